"""Cookiecutter hooks: `answers` validates the answers, `generate` finishes the generated repo."""
