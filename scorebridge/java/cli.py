"""``scorebridge java``: generate typed Java clients, build the runtime jar, print the classpath."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``java`` command group (``generate``, ``build``, ``classpath``) to the main CLI."""
    java = subparsers.add_parser("java", help="typed Java clients (HTTP or in-process PMML)",
                                 description="Generate and build the Java client of a model bundle.")
    sub = java.add_subparsers(dest="java_command", metavar="COMMAND", required=True)

    gen = sub.add_parser("generate", help="write typed Java sources for a bundle",
                         description="Write <Model>Input, <Model>Result and <Model>Scorer for BUNDLE.")
    gen.add_argument("bundle", metavar="BUNDLE",
                     help="bundle directory, <repo>/<name> (latest) or <repo>/<name>@<version>")
    gen.add_argument("--package", required=True, help="Java package, e.g. com.example.scoring")
    gen.add_argument("--out", required=True, type=Path, help="source root to write into (e.g. src/main/java)")
    gen.set_defaults(func=_generate)

    build = sub.add_parser("build", help="compile the runtime library into a jar with javac",
                           description="Compile java_client/src/main/java against the installed JPMML and Gson "
                                       "jars (no Maven needed) and print the jar's path.")
    build.add_argument("--out", type=Path, help="also copy the jar here (a directory or a .jar path)")
    build.add_argument("--force", action="store_true", help="rebuild even if a cached jar is up to date")
    build.set_defaults(func=_build)

    cp = sub.add_parser("classpath", help="print the classpath for compiling and running generated code",
                        description="Print the runtime jar and its dependencies, joined with the path separator "
                                    "(builds the runtime jar first if needed).")
    cp.add_argument("--lines", action="store_true", help="one entry per line instead of one joined line")
    cp.set_defaults(func=_classpath)


def _generate(args: argparse.Namespace) -> int:
    from scorebridge.java.generate import generate

    client = generate(args.bundle, args.package, args.out)
    for f in client.files:
        print(f)
    return 0


def _build(args: argparse.Namespace) -> int:
    from scorebridge.java.toolchain import build_runtime

    print(build_runtime(args.out, force=args.force))
    return 0


def _classpath(args: argparse.Namespace) -> int:
    from scorebridge.java.toolchain import join_classpath, runtime_classpath

    entries = runtime_classpath()
    print("\n".join(map(str, entries)) if args.lines else join_classpath(entries))
    return 0
