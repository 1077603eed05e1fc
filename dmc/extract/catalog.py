"""What ``extract`` knows about: frameworks, libraries, languages, requirement and
constraint cues, and dependency files.

Plain data, so adding a framework is a one-line change. Each entry lists the words people
write for it and, where it differs, the package name found in dependency files.
"""

from __future__ import annotations

#: name -> (kind, language, aliases in requests, package names in dependency files)
PACKAGES: dict[str, tuple[str, str, tuple[str, ...], tuple[str, ...]]] = {
    # web back ends
    "express": ("framework", "javascript", ("express", "expressjs", "express.js"), ("express",)),
    "fastify": ("framework", "javascript", ("fastify",), ("fastify",)),
    "koa": ("framework", "javascript", ("koa",), ("koa",)),
    "nestjs": ("framework", "typescript", ("nestjs", "nest.js"), ("@nestjs/core",)),
    "nextjs": ("framework", "javascript", ("next.js", "nextjs"), ("next",)),
    "fastapi": ("framework", "python", ("fastapi",), ("fastapi",)),
    "flask": ("framework", "python", ("flask",), ("flask",)),
    "django": ("framework", "python", ("django",), ("django",)),
    "starlette": ("framework", "python", ("starlette",), ("starlette",)),
    "spring": ("framework", "java", ("spring", "spring boot", "springboot"),
               ("spring-boot-starter",)),
    "rails": ("framework", "ruby", ("rails", "ruby on rails"), ("rails",)),
    "laravel": ("framework", "php", ("laravel",), ("laravel/framework",)),
    "gin": ("framework", "go", ("gin",), ("github.com/gin-gonic/gin",)),
    "actix": ("framework", "rust", ("actix", "actix-web"), ("actix-web",)),
    "axum": ("framework", "rust", ("axum",), ("axum",)),
    # front ends
    "react": ("framework", "javascript", ("react", "reactjs"), ("react",)),
    "vue": ("framework", "javascript", ("vue", "vuejs", "vue.js"), ("vue",)),
    "angular": ("framework", "typescript", ("angular",), ("@angular/core",)),
    "svelte": ("framework", "javascript", ("svelte", "sveltekit"), ("svelte",)),
    "tailwind": ("library", "css", ("tailwind", "tailwindcss"), ("tailwindcss",)),
    "react-native": ("framework", "javascript", ("react native", "react-native"),
                     ("react-native",)),
    "flutter": ("framework", "dart", ("flutter",), ("flutter",)),
    # CLIs
    "typer": ("library", "python", ("typer",), ("typer",)),
    "click": ("library", "python", ("click",), ("click",)),
    "argparse": ("library", "python", ("argparse",), ()),
    "commander": ("library", "javascript", ("commander",), ("commander",)),
    "cobra": ("library", "go", ("cobra",), ("github.com/spf13/cobra",)),
    "clap": ("library", "rust", ("clap",), ("clap",)),
    # data and ML
    "pandas": ("library", "python", ("pandas",), ("pandas",)),
    "polars": ("library", "python", ("polars",), ("polars",)),
    "numpy": ("library", "python", ("numpy",), ("numpy",)),
    "pytorch": ("framework", "python", ("pytorch", "torch"), ("torch",)),
    "tensorflow": ("framework", "python", ("tensorflow", "keras"), ("tensorflow",)),
    "scikit-learn": ("library", "python", ("sklearn", "scikit-learn"), ("scikit-learn",)),
    "transformers": ("library", "python", ("transformers", "hugging face", "huggingface"),
                     ("transformers",)),
    "spark": ("framework", "python", ("spark", "pyspark"), ("pyspark",)),
    # persistence
    "sqlalchemy": ("library", "python", ("sqlalchemy",), ("sqlalchemy",)),
    "prisma": ("library", "typescript", ("prisma",), ("prisma", "@prisma/client")),
    "sequelize": ("library", "javascript", ("sequelize",), ("sequelize",)),
    "mongoose": ("library", "javascript", ("mongoose",), ("mongoose",)),
    "postgresql": ("service", "", ("postgres", "postgresql", "psql"),
                   ("psycopg", "psycopg2", "pg", "asyncpg")),
    "mysql": ("service", "", ("mysql", "mariadb"), ("mysqlclient", "mysql2", "pymysql")),
    "sqlite": ("service", "", ("sqlite", "sqlite3"), ("better-sqlite3", "sqlite3")),
    "redis": ("service", "", ("redis",), ("redis", "ioredis")),
    "mongodb": ("service", "", ("mongodb", "mongo"), ("mongodb", "pymongo", "motor")),
    # HTTP, auth, validation
    "requests": ("library", "python", ("requests",), ("requests",)),
    "httpx": ("library", "python", ("httpx",), ("httpx",)),
    "axios": ("library", "javascript", ("axios",), ("axios",)),
    "pydantic": ("library", "python", ("pydantic",), ("pydantic",)),
    "jsonwebtoken": ("library", "javascript", ("jsonwebtoken",), ("jsonwebtoken",)),
    "passport": ("library", "javascript", ("passport", "passport.js"), ("passport",)),
    "pyjwt": ("library", "python", ("pyjwt",), ("pyjwt",)),
    "celery": ("library", "python", ("celery",), ("celery",)),
    "graphql": ("library", "", ("graphql", "apollo"), ("graphql", "@apollo/server")),
    "grpc": ("library", "", ("grpc",), ("grpcio", "@grpc/grpc-js")),
    # testing
    "pytest": ("library", "python", ("pytest",), ("pytest",)),
    "unittest": ("library", "python", ("unittest",), ()),
    "jest": ("library", "javascript", ("jest",), ("jest",)),
    "vitest": ("library", "javascript", ("vitest",), ("vitest",)),
    "mocha": ("library", "javascript", ("mocha",), ("mocha",)),
    "playwright": ("library", "javascript", ("playwright",), ("playwright", "@playwright/test")),
    # infrastructure
    "docker": ("tool", "", ("docker", "dockerfile", "docker-compose"), ()),
    "kubernetes": ("tool", "", ("kubernetes", "k8s", "helm"), ()),
    "terraform": ("tool", "", ("terraform",), ()),
    "github-actions": ("tool", "", ("github actions", "github action", "gh actions"), ()),
}

LANGUAGES: dict[str, tuple[str, ...]] = {
    "python": ("python", "py", "python3", "pip", "pypi"),
    "javascript": ("javascript", "js", "node", "nodejs", "node.js", "npm"),
    "typescript": ("typescript", "ts", "tsx"),
    "rust": ("rust", "cargo", "crate"),
    "go": ("golang", "go"),
    "java": ("java", "jvm", "maven", "gradle"),
    "kotlin": ("kotlin",),
    "swift": ("swift",),
    "c": ("c",),
    "cpp": ("c++", "cpp"),
    "csharp": ("c#", "csharp", ".net", "dotnet"),
    "ruby": ("ruby", "gem"),
    "php": ("php", "composer"),
    "sql": ("sql",),
    "shell": ("bash", "shell", "sh", "zsh"),
}

EXTENSION_LANGUAGE: dict[str, str] = {
    ".py": "python", ".pyi": "python", ".js": "javascript", ".mjs": "javascript",
    ".cjs": "javascript", ".jsx": "javascript", ".ts": "typescript", ".tsx": "typescript",
    ".rs": "rust", ".go": "go", ".java": "java", ".kt": "kotlin", ".swift": "swift",
    ".c": "c", ".h": "c", ".cc": "cpp", ".cpp": "cpp", ".hpp": "cpp", ".cs": "csharp",
    ".rb": "ruby", ".php": "php", ".sql": "sql", ".sh": "shell", ".bash": "shell",
}

#: requirement -> cue words (a cue may be a phrase)
REQUIREMENTS: dict[str, tuple[str, ...]] = {
    "authentication": ("auth", "authentication", "authenticate", "login", "log in", "logout",
                       "sign in", "signin", "sign-in", "sign up", "signup", "jwt", "oauth",
                       "oauth2", "sso", "session", "password", "credentials"),
    "authorization": ("authorization", "authorize", "permission", "permissions", "role",
                      "roles", "rbac", "acl", "access control"),
    "validation": ("validate", "validation", "validator", "sanitize", "sanitise", "schema"),
    "error_handling": ("error", "errors", "exception", "exceptions", "handle", "retry",
                       "retries", "fallback", "graceful", "gracefully", "crash"),
    "logging": ("log", "logs", "logging", "logger", "audit trail"),
    "caching": ("cache", "caching", "memoize", "memoise", "ttl"),
    "testing": ("test", "tests", "testing", "coverage", "unit test", "e2e"),
    "documentation": ("doc", "docs", "documentation", "docstring", "readme", "comment"),
    "performance": ("fast", "faster", "speed", "performance", "latency", "slow", "optimize",
                    "optimise", "memory", "throughput"),
    "security": ("secure", "security", "csrf", "xss", "injection", "encrypt", "encryption",
                 "secret", "secrets", "vulnerability", "cve", "tls", "https"),
    "pagination": ("paginate", "pagination", "page size", "cursor"),
    "rate_limiting": ("rate limit", "rate-limit", "rate limiting", "throttle", "throttling"),
    "persistence": ("database", "db", "persist", "store", "storage", "save", "migration"),
    "api": ("api", "endpoint", "endpoints", "route", "routes", "rest", "graphql", "webhook"),
    "ui": ("ui", "page", "button", "form", "component", "modal", "layout", "screen"),
    "concurrency": ("async", "concurrent", "concurrency", "parallel", "thread", "threads",
                    "worker", "workers", "queue"),
    "serialization": ("json", "yaml", "csv", "serialize", "serialise", "parse", "parser"),
    "configuration": ("config", "configuration", "settings", "env var", "environment variable",
                      "flag", "option"),
    "internationalization": ("i18n", "translation", "translate", "locale", "localization"),
    "accessibility": ("a11y", "accessibility", "aria", "screen reader"),
    "monitoring": ("metrics", "monitoring", "tracing", "telemetry", "prometheus", "health"),
    "notifications": ("email", "notification", "notifications", "sms", "push"),
    "file_upload": ("upload", "uploads", "file upload", "attachment"),
}

#: constraint -> cue phrases
CONSTRAINTS: dict[str, tuple[str, ...]] = {
    "jwt_tokens": ("jwt", "json web token", "bearer token"),
    "oauth2": ("oauth2", "oauth 2", "oauth"),
    "backward_compatible": ("backward compatible", "backwards compatible", "keep working",
                            "keeping", "without breaking", "no breaking", "don't break",
                            "do not break", "compatibility", "still work", "keep existing"),
    "no_new_dependencies": ("no new dependencies", "without new dependencies",
                            "no dependencies", "without dependencies", "stdlib only",
                            "standard library only", "no external"),
    "async": ("async", "asyncio", "await", "non-blocking"),
    "thread_safe": ("thread-safe", "thread safe", "threadsafe"),
    "offline": ("offline", "no network", "without network", "air-gapped"),
    "type_hints": ("type hints", "typed", "typing", "mypy"),
    "tests_required": ("with tests", "add tests", "unit tests", "test coverage"),
    "performance_budget": ("ms", "millisecond", "milliseconds", "under a second", "latency"),
    "minimal_change": ("minimal", "small change", "only change", "don't touch", "do not touch"),
}

#: file name -> ecosystem, for dependency detection
DEPENDENCY_FILES: dict[str, str] = {
    "requirements.txt": "pypi", "requirements-dev.txt": "pypi", "pyproject.toml": "pypi",
    "setup.py": "pypi", "setup.cfg": "pypi", "Pipfile": "pypi", "environment.yml": "conda",
    "package.json": "npm", "Cargo.toml": "crates", "go.mod": "go", "Gemfile": "rubygems",
    "pom.xml": "maven", "build.gradle": "gradle", "build.gradle.kts": "gradle",
    "composer.json": "packagist",
}
