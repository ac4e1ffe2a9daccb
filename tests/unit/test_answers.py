"""Unit tests of hooks.answers: each rule rejects what it should and names the answer."""

import json
from pathlib import Path

import jsonschema
import pytest

from hooks import answers

pytestmark = pytest.mark.unit

GOOD = {
    "repo": "example-hubs",
    "hubs": "alpha,beta",
    "cluster": "main",
    "provider": "kubeconfig",
    "cloud_cluster": "",
    "cloud_location": "",
    "gcp_project": "",
    "azure_resource_group": "",
    "registry": "ghcr.io/example-org",
    "domain": "hubs.example.org",
    "secrets_backend": "age",
    "sops_recipient": "",
}
SCHEMAS = (
    Path(__file__).resolve().parents[2] / "{{cookiecutter.repo}}" / "fleet" / "core" / "schemas"
)
AGE = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"
FPR = "0123456789ABCDEF0123456789ABCDEF01234567"


def test_good_answers_pass():
    assert answers.problems(GOOD) == []


def test_hub_max_fits_helm_release_limit():
    assert answers.HUB_MAX == 45
    assert len("a" * answers.HUB_MAX + "-staging") == 53


@pytest.mark.parametrize(
    ("hubs", "expected"),
    [
        ("Hub_1", "'Hub_1' is not a DNS-1123 label"),
        ("a" * 70, "is 70 characters; at most 45"),
        ("alpha,beta,alpha", "'alpha' is listed twice"),
        ("", "the list is empty"),
        ("  ", "the list is empty"),
        ("alpha,,beta", "an empty hub name"),
        ("-alpha", "not a DNS-1123 label"),
    ],
)
def test_bad_hubs_are_named(hubs, expected):
    problems = answers.problems({**GOOD, "hubs": hubs})
    assert len(problems) == 1
    assert problems[0].startswith("hubs: ")
    assert expected in problems[0]


@pytest.mark.parametrize("repo", ["a" * 64, "hubs.", "_hubs"])
def test_a_repo_name_that_cannot_label_releases_is_refused(repo):
    problems = answers.problems({**GOOD, "repo": repo})
    assert len(problems) == 1 and problems[0].startswith(f"repo: {repo!r}")


def test_a_promotion_model_we_do_not_have_is_refused():
    assert answers.problems({**GOOD, "promotion": "one-branch"}) == []
    assert answers.problems({**GOOD, "promotion": "trunk"}) == [
        "promotion: 'trunk' is not one of branches, one-branch"
    ]


def test_hub_of_45_characters_is_allowed():
    assert answers.check_hubs("a" * 45) is None
    assert answers.check_hubs("a" * 46)


def test_hubs_are_stripped():
    assert answers.split_hubs(" alpha , beta") == ["alpha", "beta"]
    assert answers.check_hubs(" alpha , beta") is None


@pytest.mark.parametrize(
    ("backend", "recipient", "ok"),
    [
        ("age", AGE, True),
        ("age", FPR, False),
        ("age", "", True),
        ("pgp", FPR, True),
        ("pgp", AGE, False),
        ("pgp", FPR.lower(), False),
        ("gcp-kms", "projects/p/locations/global/keyRings/r/cryptoKeys/k", True),
        ("gcp-kms", "arn:aws:kms:us-east-1:123456789012:key/abc", False),
        ("aws-kms", "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab", True),
        ("aws-kms", "projects/p/locations/global/keyRings/r/cryptoKeys/k", False),
        ("azure-kv", "https://myvault.vault.azure.net/keys/sops/" + "0" * 32, True),
        ("azure-kv", "https://myvault.example.net/keys/sops/x", False),
    ],
)
def test_recipient_matches_backend(backend, recipient, ok):
    problem = answers.check_recipient(backend, recipient)
    assert (problem is None) == ok
    if not ok:
        assert problem.startswith("sops_recipient: ")
        assert backend in problem


def test_pgp_fingerprint_for_age_says_what_age_needs():
    problem = answers.problems({**GOOD, "sops_recipient": FPR})[0]
    assert "not an age public key" in problem


@pytest.mark.parametrize(
    ("registry", "ok"),
    [
        ("ghcr.io/example-org", True),
        ("127.0.0.1:5000/hubs", True),
        ("quay.io", True),
        ("GHCR.io/Org", False),
        ("ghcr.io/org/", False),
        ("https://ghcr.io/org", False),
    ],
)
def test_registry(registry, ok):
    assert (answers.check_registry(registry) is None) == ok


@pytest.mark.parametrize(
    ("domain", "ok"),
    [
        ("hubs.example.org", True),
        ("example.org", True),
        ("localhost", False),
        ("Hubs.Example.org", False),
        ("hubs.example.org.", False),
        ("-a.example.org", False),
    ],
)
def test_domain(domain, ok):
    assert (answers.check_domain(domain) is None) == ok


@pytest.mark.parametrize(
    ("provider", "fields", "missing"),
    [
        (
            "gcp",
            {"gcp_project": "my-project", "cloud_cluster": "c", "cloud_location": "us-central1"},
            None,
        ),
        ("gcp", {"gcp_project": "my-project", "cloud_cluster": "c"}, "cloud_location"),
        ("aws", {"cloud_cluster": "c", "cloud_location": "us-east-1"}, None),
        ("aws", {"cloud_location": "us-east-1"}, "cloud_cluster"),
        ("azure", {"cloud_cluster": "c", "azure_resource_group": "rg"}, None),
        ("azure", {"cloud_cluster": "c"}, "azure_resource_group"),
        ("kubeconfig", {}, None),
    ],
)
def test_provider_fields(provider, fields, missing):
    problem = answers.check_provider({**GOOD, "provider": provider, **fields})
    if missing is None:
        assert problem is None
    else:
        assert problem == f"{missing}: required when provider is {provider}"


# The schemas of the generated repo are the one source of the config fields' shapes.


@pytest.fixture
def schemas(tmp_path, monkeypatch):
    """A copy of the generated repo's schemas that a test may change; answers reads the copy."""
    for path in answers.SCHEMAS.glob("*.schema.json"):
        (tmp_path / path.name).write_text(path.read_text())
    monkeypatch.setattr(answers, "SCHEMAS", tmp_path)
    answers.definition.cache_clear()
    yield tmp_path
    answers.definition.cache_clear()


def test_answers_follow_the_schema(schemas):
    fleet = json.loads((schemas / "fleet.schema.json").read_text())
    assert answers.check_registry("ghcr.io/example-org") is None
    fleet["$defs"]["registry"]["pattern"] = "^ghcr\\.io/[a-z]+$"
    (schemas / "fleet.schema.json").write_text(json.dumps(fleet))
    answers.definition.cache_clear()
    assert answers.check_registry("ghcr.io/example-org").startswith("registry: ")
    assert answers.check_registry("quay.io") is not None
    assert answers.check_registry("ghcr.io/example") is None


def test_a_definition_answers_cannot_check_fails_loudly(schemas):
    hub = json.loads((schemas / "hub.schema.json").read_text())
    hub["$defs"]["dnsLabel"]["format"] = "hostname"
    (schemas / "hub.schema.json").write_text(json.dumps(hub))
    with pytest.raises(ValueError, match="dnsLabel.*format"):
        answers.check_dns_label("cluster", "main")


def schema(kind):
    return json.loads((SCHEMAS / f"{kind}.schema.json").read_text())


def test_choices_are_the_schemas_enums():
    assert set(answers.RECIPIENTS) == set(schema("fleet")["$defs"]["secretsBackend"]["enum"])
    assert set(answers.PROVIDER_FIELDS) == set(schema("cluster")["$defs"]["provider"]["enum"])
    assert tuple(schema("fleet")["$defs"]["environment"]["enum"]) == answers.ENVIRONMENTS
    assert schema("hub")["$defs"]["environment"] == schema("fleet")["$defs"]["environment"]


def test_patterns_are_anchored():
    # answers full-matches a pattern; JSON Schema searches it: the same only when anchored.
    for kind in ("fleet", "cluster", "hub"):
        for name, definition in schema(kind)["$defs"].items():
            if "pattern" in definition:
                pattern = definition["pattern"]
                assert pattern.startswith("^") and pattern.endswith("$"), (kind, name)


def field_errors(kind: str, document: dict, field: tuple[str, ...]) -> list:
    validator = jsonschema.Draft202012Validator(schema(kind))
    return [e for e in validator.iter_errors(document) if tuple(e.absolute_path) == field]


@pytest.mark.parametrize(
    "value",
    [
        "ghcr.io/example-org",
        "127.0.0.1:5000/hubs",
        "127.0.0.1:123456/hubs",
        "GHCR.io/org",
        "ghcr.io/org/",
        "quay.io",
        "https://ghcr.io/org",
    ],
)
def test_registry_answer_and_fleet_yaml_agree(value):
    document = {"registry": value, "domain": "hubs.example.org", "secrets_backend": "age"}
    schema_ok = not field_errors("fleet", document, ("registry",))
    assert (answers.check_registry(value) is None) == schema_ok


@pytest.mark.parametrize(
    "value",
    [
        "hubs.example.org",
        "localhost",
        "Hubs.example.org",
        "-a.example.org",
        ("a" * 60 + ".") * 4 + "org",
        ("a" * 60 + ".") * 5 + "org",
    ],
)
def test_domain_answer_and_fleet_yaml_agree(value):
    document = {"registry": "ghcr.io/x", "domain": value, "secrets_backend": "age"}
    schema_ok = not field_errors("fleet", document, ("domain",))
    assert (answers.check_domain(value) is None) == schema_ok


@pytest.mark.parametrize("value", ["main", "eu-1", "Main", "-main", "a" * 63, "a" * 64, "main_2"])
def test_cluster_answer_and_hub_yaml_agree(value):
    schema_ok = not field_errors("hub", {"cluster": value}, ("cluster",))
    assert (answers.check_dns_label("cluster", value) is None) == schema_ok


@pytest.mark.parametrize(
    ("provider", "settings", "answer", "field"),
    [
        ("gcp", {"project": "my-project", "cluster": "c", "location": "us-central1"}, {}, None),
        (
            "gcp",
            {"project": "My-Project", "cluster": "c", "location": "us-central1"},
            {"gcp_project": "My-Project"},
            ("gcp", "project"),
        ),
        (
            "gcp",
            {"project": "my-project", "cluster": "c", "location": "central"},
            {"cloud_location": "central"},
            ("gcp", "location"),
        ),
        ("aws", {"cluster": "c", "region": "eu-west-1"}, {}, None),
        (
            "aws",
            {"cluster": "c", "region": "eu-west"},
            {"cloud_location": "eu-west"},
            ("aws", "region"),
        ),
    ],
)
def test_provider_answers_and_cluster_yaml_agree(provider, settings, answer, field):
    base = {
        "provider": provider,
        "cloud_cluster": "c",
        "gcp_project": "my-project",
        "cloud_location": "us-central1" if provider == "gcp" else "eu-west-1",
    }
    problem = answers.check_provider({**GOOD, **base, **answer})
    errors = jsonschema.Draft202012Validator(schema("cluster")).iter_errors(
        {"provider": provider, provider: settings}
    )
    assert [tuple(e.absolute_path) for e in errors] == ([field] if field else [])
    assert (problem is None) == (field is None)


@pytest.mark.parametrize(
    ("answer", "value"),
    [("registry", "ghcr.io/org\n"), ("domain", "hubs.example.org\n"), ("cluster", "main\n")],
)
def test_a_trailing_newline_is_refused(answer, value):
    assert answers.problems({**GOOD, answer: value})


def test_unknown_choices_name_the_schema_values():
    assert answers.check_provider({**GOOD, "provider": "gke"}) == (
        "provider: 'gke' is not one of kubeconfig, gcp, aws, azure"
    )
    assert answers.check_recipient("vault", "") == (
        "secrets_backend: 'vault' is not one of age, pgp, gcp-kms, aws-kms, azure-kv"
    )


@pytest.mark.parametrize(
    "url", ["", "https://charts.example.org/mirror", "http://127.0.0.1:8080", "oci://ghcr.io/o/c"]
)
def test_the_support_chart_repository_is_a_url_or_empty(url):
    assert answers.problems({**GOOD, "support_chart_repository": url}) == []


@pytest.mark.parametrize("url", ["charts.example.org", "ftp://x.org", "https://a b", 'https://x"'])
def test_a_support_chart_repository_that_is_not_a_url_is_named(url):
    assert answers.problems({**GOOD, "support_chart_repository": url}) == [
        f"support_chart_repository: {url!r} is not a URL (https://..., or empty for upstream)"
    ]


@pytest.mark.parametrize(
    ("mirror", "ok"),
    [
        ("", True),
        ("127.0.0.1:5000/mirror", True),
        ("registry.example.org/jupyterhub/chart", True),
        ("registry.example.org", False),  # a path is needed: images keep theirs under it
        ("https://registry.example.org/x", False),
        ("Registry.example.org/x", False),
    ],
)
def test_image_mirror_is_a_registry_path_or_empty(mirror, ok):
    problem = answers.check_image_mirror(mirror)
    assert (problem is None) == ok, problem
    if not ok:
        assert problem.startswith("image_mirror: ")


@pytest.mark.parametrize("org_name", ["", "   "])
def test_an_empty_org_name_is_named_as_itself_not_as_the_repo_made_from_it(org_name):
    found = answers.problems({"org_name": org_name, "repo": "-hubs", "hubs": "alpha"})
    assert found[0] == "org_name: empty: give the organisation's name, e.g. 'Example University'"


AGE_A = "age1ql2auxf69gn3h4gnrf5fmf08vfknavfjfarmhkgas2d49w42x3sspvpvq0"
AGE_B = "age12m9vqvy84vnz9yvfl5qfcr80l7nmj0e25dlsudsqvqqgnky07ggscqru0n"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"sops_recipient": AGE_A, "sops_recipient_prod": AGE_B}, None),
        ({"sops_recipient": "", "sops_recipient_prod": AGE_B}, None),  # staging's is generated
        (
            {"sops_recipient": AGE_A, "sops_recipient_prod": AGE_A},
            "sops_recipient_prod: the same key as sops_recipient: leave it empty for one key",
        ),
        (
            {
                "sops_recipient": AGE_A,
                "sops_recipient_prod": "0123456789ABCDEF0123456789ABCDEF01234567",
            },
            "sops_recipient_prod: '0123456789ABCDEF0123456789ABCDEF01234567' is not",
        ),
        (
            {"secrets_backend": "pgp", "sops_recipient": "", "sops_recipient_prod": "0" * 40},
            "sops_recipient_prod: give sops_recipient too (staging's key), or neither",
        ),
    ],
)
def test_prods_own_key_is_checked_and_named(given, expected):
    found = answers.check_prod_recipient({"secrets_backend": "age", **given})
    if expected is None:
        assert found is None
    else:
        assert found is not None and found.startswith(expected), found
