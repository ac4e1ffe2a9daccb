"""Unit tests of hooks.answers: each rule rejects what it should and names the answer."""

import pytest

from hooks import answers

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
    [("hubs.example.org", True), ("example.org", True), ("localhost", False), ("Hubs.Example.org", False),
     ("hubs.example.org.", False), ("-a.example.org", False)],
)
def test_domain(domain, ok):
    assert (answers.check_domain(domain) is None) == ok


@pytest.mark.parametrize(
    ("provider", "fields", "missing"),
    [
        ("gcp", {"gcp_project": "my-project", "cloud_cluster": "c", "cloud_location": "us-central1"}, None),
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
