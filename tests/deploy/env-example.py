#!/usr/bin/env python3
"""Writes .env.example from config/default.toml: every key as GATEHOUSE__SECTION__KEY, commented
out, with its default and the comment that documents it there.

    python3 tests/deploy/env-example.py          # rewrite .env.example
    python3 tests/deploy/env-example.py --check  # exit 1 if it is out of date

crates/server/tests/env_example.rs checks in `cargo test` that both files name the same keys.
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
SECTION = re.compile(r"^\[([a-z_]+)\]\s*$")
KEY = re.compile(r"^(#\s?)?([a-z_][a-z0-9_]*) = (.*)$")

HEADER = """\
# Environment for Gatehouse, generated from config/default.toml by tests/deploy/env-example.py
# (rerun it when a key changes; `cargo test` fails while the two name different keys).
#
# Copy it to .env and uncomment what you set. Two readers use .env:
# - docker compose (docker-compose.yml) substitutes ${VAR} from it. It refuses to start until
#   the three secrets below are set; both Gatehouse instances get the same master key.
# - the `gatehouse` binary reads ./.env at start: a variable set there applies only when the
#   real environment does not set it, and like every GATEHOUSE__* variable it overrides
#   `--config FILE`. Defaults are compiled in; every line below shows its default.
#
# Keep .env out of version control (it is in .gitignore): it holds secrets.
#
# ---- Required by docker-compose.yml ----------------------------------------------------------
# The Postgres password of the compose stack (letters and digits: it goes into a URL),
# e.g. `openssl rand -hex 24`.
# POSTGRES_PASSWORD=
# Also required there, documented in their sections below: GATEHOUSE__KEYS__MASTER_KEY
# (`openssl rand -base64 32`) and GATEHOUSE__BOOTSTRAP__ADMIN_PASSWORD.
"""


def env_value(raw):
    raw = raw.strip()
    if raw.startswith('"') and raw.endswith('"'):
        raw = raw[1:-1]
    if raw in ("...", "[]"):
        return ""
    if raw.startswith("[") and raw.endswith("]"):
        raw = ",".join(part.strip().strip('"') for part in raw[1:-1].split(",") if part.strip())
    if re.search(r"[\s#<>\"'$]", raw):
        return '"' + raw.replace('"', '\\"') + '"'
    return raw


def entries(raw):
    """(suffix, value) pairs; an inline table gives one per field."""
    raw = raw.strip()
    if raw.startswith("{") and raw.endswith("}"):
        for field in raw[1:-1].split(","):
            name, _, value = field.partition("=")
            yield "__" + name.strip().upper(), env_value(value)
    else:
        yield "", env_value(raw)


def generate():
    out = [HEADER]
    section = None
    comments = []
    seen = set()
    for line in (ROOT / "config/default.toml").read_text().splitlines():
        if m := SECTION.match(line):
            section = m.group(1)
            out.append(f"\n# ---- [{section}] " + "-" * max(3, 88 - len(section)))
            comments = []
            continue
        if section is None:
            continue
        m = KEY.match(line)
        if m:
            key, raw = m.group(2), m.group(3)
            for suffix, value in entries(raw):
                name = f"GATEHOUSE__{section.upper()}__{key.upper()}{suffix}"
                if name in seen:
                    out.append(f"#   e.g. {name}={value}")
                    continue
                seen.add(name)
                out.extend(comments)
                out.append(f"# {name}={value}")
                comments = []
            continue
        if line.startswith("#"):
            comments.append(line)
        elif not line.strip():
            out.extend(comments)
            comments = []
    return "\n".join(out).rstrip() + "\n"


def main():
    target = ROOT / ".env.example"
    text = generate()
    if "--check" in sys.argv[1:]:
        if target.read_text() != text:
            print(".env.example is out of date: python3 tests/deploy/env-example.py", file=sys.stderr)
            return 1
        return 0
    target.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
