"""Hand-written lexicons for the intent classifier.

These word lists are the part of the classifier that carries over to projects it was never
trained on: they name what a kind of change talks about (tests, CI, speed, docs...), not what
one project's history happens to say. The learned weights only decide how much each cue counts.
Words are given in plain form; :func:`dmc.intent.features.stem` normalises both sides.
"""

from __future__ import annotations

#: Cue words per commit-like task type. A word may sit in several lists.
TASK_CUES: dict[str, tuple[str, ...]] = {
    "documentation": (
        "doc", "docs", "documentation", "document", "documented", "readme", "typo", "typos",
        "spelling", "grammar", "wording", "docstring", "docstrings", "comment", "comments",
        "guide", "guides", "tutorial", "faq", "mkdocs", "sphinx", "rst", "markdown", "manual",
        "instructions", "instruction", "usage", "reference", "badge", "badges", "link", "links",
        "wiki", "contributing", "clarify", "mention", "describe", "explain", "explanation",
        "section", "page", "website", "site", "example", "examples", "docsite", "api-docs",
        "changelog.md", "readme.md", "jsdoc", "sentence", "paragraph", "note", "notes",
        "userguide", "user-guide", "homepage", "screenshot", "diagram", "translation",
    ),
    "testing": (
        "test", "tests", "testing", "tested", "unittest", "unittests", "pytest", "jest",
        "vitest", "mocha", "fixture", "fixtures", "mock", "mocks", "mocked", "mocking",
        "coverage", "e2e", "spec", "specs", "assertion", "assertions", "assert", "flaky",
        "snapshot", "snapshots", "hypothesis", "parametrize", "parametrized", "parametric",
        "conftest", "unit", "integration", "regression-test", "testcase", "testcases",
        "doctest", "doctests", "xfail", "skip", "harness", "stub", "stubs",
    ),
    "configuration": (
        "ci", "workflow", "workflows", "action", "actions", "pipeline", "job", "jobs",
        "runner", "runners", "build", "builds", "publish", "publishing", "docker",
        "dockerfile", "container", "makefile", "cmake", "cargo", "crate", "crates", "npm",
        "pnpm", "yarn", "pip", "pyproject", "pyproject.toml", "setup.py", "setup.cfg", "tox",
        "nox", "lint", "linter", "linting", "eslint", "prettier", "ruff", "flake8", "pre-commit",
        "precommit", "dependabot", "renovate", "pin", "pinned", "bump", "upgrade", "version",
        "versions", "lockfile", "lock", "dependency", "dependencies", "deps", "requirement",
        "requirements", "toolchain", "nightly", "wheel", "wheels", "manylinux", "msrv",
        "codecov", "matrix", "yaml", "yml", "circleci", "travis", "gitlab-ci", "artifact",
        "artifacts", "sccache", "rustc", "compiler", "package.json", "tsconfig", "babel",
        "webpack", "config", "configuration", "env", "environment", "install", "installation",
        "release", "releases", "deploy", "deployment", "github", "gitignore", "editorconfig",
        "husky", "lerna", "nx", "turbo", "semantic-release", "upload", "cache", "caching",
        "label", "labels", "bot", "template", "templates", "dev", "devcontainer", "script",
        "scripts", "setting", "settings",
    ),
    "optimization": (
        "perf", "performance", "fast", "faster", "fastest", "speed", "speedup", "speed-up",
        "slow", "slower", "latency", "throughput", "optimize", "optimise", "optimized",
        "optimised", "optimization", "optimisation", "efficient", "efficiently", "efficiency",
        "memory", "allocation", "allocations", "alloc", "allocate", "clone", "cloning", "copy",
        "copies", "zero-copy", "parallel", "parallelize", "parallelism", "concurrency",
        "concurrent", "simd", "vectorize", "vectorized", "kernel", "kernels", "fast-path",
        "hot", "overhead", "reduce", "lower", "lazy", "lazily", "benchmark", "benchmarks",
        "bench", "cheaper", "quicker", "quickly", "expensive", "bottleneck", "scalability",
        "prefetch", "batch", "batching", "buffer", "buffers", "pool", "pooling", "inline",
        "inlining", "specialize", "specialized", "hashing", "cpu", "threads", "threaded",
        "multithreaded", "rechunk", "amortize", "redundant", "unnecessary", "startup",
        "tokenizer", "hashtable", "o(n)", "linear-time", "quadratic",
    ),
    "bug_fix": (
        "fix", "fixes", "fixed", "fixing", "bug", "bugs", "issue", "issues", "crash", "crashes",
        "crashing", "panic", "panics", "error", "errors", "exception", "exceptions", "fail",
        "fails", "failing", "failure", "broken", "break", "breaks", "wrong", "incorrect",
        "incorrectly", "correct", "correctly", "properly", "missing", "regression", "handle",
        "handling", "prevent", "avoid", "ensure", "invalid", "unexpected", "edge", "empty",
        "null", "none", "nan", "overflow", "underflow", "infinite", "hang", "hangs", "leak",
        "race", "deadlock", "respect", "honor", "honour", "gracefully", "mismatch",
        "off-by-one", "segfault", "traceback", "undefined", "unhandled", "typeerror",
        "keyerror", "valueerror", "nullpointer", "npe", "oob", "out-of-bounds", "stale",
        "duplicate", "duplicated", "restore", "revert", "workaround", "erroneous", "bogus",
        "accidentally", "unintended", "should", "shouldn't", "doesn't", "don't", "dont",
        "not", "no", "instead", "when", "if",
    ),
    "refactoring": (
        "refactor", "refactoring", "refactored", "rename", "renamed", "renaming", "move",
        "moved", "moving", "extract", "split", "simplify", "simplified", "simplification",
        "cleanup", "clean", "clean-up", "tidy", "restructure", "reorganize", "reorganise",
        "consolidate", "unify", "dedupe", "deduplicate", "replace", "port", "ported",
        "migrate", "internal", "internals", "legacy", "deprecated", "deprecate", "dead",
        "unused", "type", "types", "typing", "hints", "abstraction", "helper", "helpers",
        "module", "modules", "decouple", "generic", "generics", "trait", "traits", "reuse",
        "readability", "readable", "maintainability", "boilerplate", "code", "drop", "purge",
        "separate", "encapsulate", "structure", "architecture", "rewrite", "rework",
        "modernize", "modernise", "lint-fix", "style", "format", "formatting",
    ),
    "feature_implementation": (
        "add", "adds", "added", "adding", "support", "supports", "allow", "allows", "implement",
        "implements", "implemented", "introduce", "introduces", "new", "enable", "enables",
        "expose", "option", "options", "flag", "flags", "parameter", "parameters", "param",
        "argument", "arguments", "command", "subcommand", "api", "endpoint", "endpoints",
        "ability", "possibility", "feature", "features", "extend", "accept", "accepts",
        "provide", "create", "creates", "login", "oauth", "oauth2", "jwt", "auth",
        "authentication", "dashboard", "page", "integrate", "integration", "plugin", "plugins",
        "hook", "hooks", "custom", "customizable", "configurable", "user", "users", "ui",
        "button", "form", "export", "import", "upload", "download", "notification",
        "notifications", "generate", "render", "display", "show", "print", "output",
        "write", "build", "function", "functions", "script", "program", "utility", "app",
        "class", "route", "handler", "service",
    ),
    "explanation": (
        "explain", "explains", "what", "why", "how", "where", "understand", "walk", "through",
        "meaning", "mean", "means", "difference", "overview", "?",
    ),
    "code_review": (
        "review", "reviews", "audit", "critique", "feedback", "pr", "pull", "diff", "lgtm",
        "inspect", "assess", "evaluate", "smell", "smells",
    ),
}

#: Phrases that decide the conversational task types outright; commit histories never
#: contain these, so the learned model cannot know them.
QUESTION_OPENERS: tuple[str, ...] = (
    "what", "why", "how", "where", "when", "which", "who", "is", "are", "does", "do",
    "can", "could", "should", "explain", "describe", "tell", "walk", "help me understand",
)
REVIEW_OPENERS: tuple[str, ...] = (
    "review", "audit", "critique", "check", "look over", "give feedback", "assess",
    "evaluate", "inspect",
)

#: Domain cues. Order matters only for ties: earlier domains win.
DOMAIN_CUES: dict[str, tuple[str, ...]] = {
    "web_backend": (
        "api", "rest", "graphql", "endpoint", "endpoints", "route", "routes", "router",
        "express", "fastapi", "flask", "django", "rails", "spring", "server", "backend",
        "middleware", "jwt", "oauth", "oauth2", "login", "session", "sessions", "cookie",
        "cors", "http", "https", "request", "response", "webhook", "grpc", "auth",
        "authentication", "authorization", "koa", "nestjs", "gin", "handler", "microservice",
    ),
    "web_frontend": (
        "react", "vue", "svelte", "angular", "component", "components", "css", "html",
        "frontend", "front-end", "ui", "button", "page", "layout", "dom", "browser", "jsx",
        "tsx", "tailwind", "next.js", "nextjs", "nuxt", "form", "modal", "navbar", "style",
        "stylesheet", "responsive", "redux", "hook", "hooks", "vite", "webpack",
    ),
    "cli": (
        "cli", "command", "commands", "subcommand", "flag", "flags", "argument", "arguments",
        "argv", "argparse", "click", "typer", "terminal", "shell", "stdin", "stdout", "stderr",
        "prompt", "console", "tty", "completion", "commander", "yargs", "cobra",
    ),
    "data": (
        "dataframe", "dataframes", "pandas", "polars", "csv", "parquet", "json", "etl",
        "pipeline", "column", "columns", "row", "rows", "series", "aggregation", "groupby",
        "group-by", "join", "spark", "arrow", "excel", "xlsx", "dataset", "datasets",
        "schema", "ndjson", "serialization", "deserialization", "parse", "parser", "parsing",
    ),
    "ml": (
        "model", "models", "training", "train", "inference", "embedding", "embeddings",
        "neural", "torch", "pytorch", "tensorflow", "keras", "sklearn", "scikit-learn",
        "classifier", "regression", "llm", "transformer", "transformers", "fine-tune",
        "finetune", "gpu", "cuda", "tokenizer", "dataset", "epoch", "loss", "prediction",
        "ml", "ai", "rag", "vector", "vectors",
    ),
    "devops": (
        "ci", "cd", "docker", "dockerfile", "kubernetes", "k8s", "helm", "terraform",
        "ansible", "deploy", "deployment", "workflow", "workflows", "pipeline", "github",
        "actions", "gitlab", "jenkins", "nginx", "systemd", "container", "containers",
        "monitoring", "prometheus", "grafana", "aws", "gcp", "azure", "infra",
        "infrastructure", "release", "build", "builds",
    ),
    "mobile": (
        "android", "ios", "swift", "kotlin", "flutter", "react-native", "mobile", "iphone",
        "ipad", "xcode", "gradle", "app", "apps", "swiftui", "jetpack",
    ),
    "systems": (
        "kernel", "memory", "allocator", "thread", "threads", "threading", "mutex", "lock",
        "simd", "rust", "c", "c++", "cpp", "pointer", "pointers", "unsafe", "syscall",
        "driver", "embedded", "firmware", "concurrency", "async", "runtime", "ffi",
        "numa", "mmap", "munmap", "socket", "sockets", "filesystem", "io",
    ),
    "database": (
        "database", "databases", "db", "sql", "sqlite", "postgres", "postgresql", "mysql",
        "mongodb", "mongo", "redis", "query", "queries", "migration", "migrations", "orm",
        "sqlalchemy", "prisma", "index", "indexes", "table", "tables", "transaction",
        "transactions", "schema", "sequelize", "typeorm", "knex",
    ),
}

#: Words that make a request larger than one local change.
HIGH_COMPLEXITY_CUES: tuple[str, ...] = (
    "architecture", "migrate", "migration", "rewrite", "redesign", "entire", "whole",
    "across", "all", "system", "framework", "distributed", "multi", "multiple", "several",
    "scalable", "end-to-end", "e2e", "infrastructure", "overhaul", "platform", "pipeline",
    "concurrency", "parallel", "oauth", "oauth2", "authentication", "authorization",
    "keeping", "while", "without", "backward", "backwards", "compatible", "compatibility",
    "engine", "protocol", "plugin", "plugins", "sync", "synchronization", "cache", "caching",
)
LOW_COMPLEXITY_CUES: tuple[str, ...] = (
    "typo", "typos", "rename", "bump", "pin", "comment", "comments", "wording", "spelling",
    "small", "minor", "tiny", "simple", "trivial", "one", "single", "link", "links", "log",
    "message", "readme", "badge", "format", "formatting", "whitespace", "lint",
)
