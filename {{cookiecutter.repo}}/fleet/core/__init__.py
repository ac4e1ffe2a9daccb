"""The foundation: config and its schemas, errors, the runner, private files, redaction, strict YAML, settings, output, the release target."""
