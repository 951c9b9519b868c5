"""``scorebridge java``: generate typed Java clients, build the runtime jar, print the classpath."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``java`` command group (``generate``, ``build``, ``classpath``, ``maven-repo``) to the CLI."""
    java = subparsers.add_parser("java", help="typed Java clients (HTTP or in-process PMML)",
                                 description="Generate and build the Java client of a model bundle.")
    sub = java.add_subparsers(dest="java_command", metavar="COMMAND", required=True)

    gen = sub.add_parser("generate", help="write typed Java sources for a bundle",
                         description="Write <Model>Input, <Model>Result and <Model>Scorer for BUNDLE, into a "
                                     "source root (--out) or as a Maven project with the PMML as a resource "
                                     "(--maven).")
    gen.add_argument("bundle", metavar="BUNDLE",
                     help="bundle directory, <repo>/<name> (latest) or <repo>/<name>@<version>")
    gen.add_argument("--package", required=True, help="Java package, e.g. com.example.scoring")
    where = gen.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", type=Path, help="source root to write into (e.g. src/main/java)")
    where.add_argument("--maven", type=Path, metavar="DIR",
                       help="write a Maven project: DIR/pom.xml (depends on the runtime), DIR/src/main/java, and "
                            "the PMML as DIR/src/main/resources/models/<name>.pmml")
    gen.add_argument("--group-id", help="with --maven: the project's groupId (default: the package)")
    gen.add_argument("--artifact-id", help="with --maven: the artifactId (default: <name>-client)")
    gen.add_argument("--version", dest="project_version",
                     help="with --maven: the project version (default: the bundle's version)")
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

    repo = sub.add_parser("maven-repo", help="assemble the offline Maven setup in java_client/.mvn/",
                          description="Write java_client/.mvn/: a project-local Maven repository with the JPMML "
                                      "and Gson jars of the installed Python packages, settings.xml using Debian's "
                                      "/usr/share/maven-repo for plugins and JUnit, and maven.config, so that "
                                      "'cd java_client && mvn -o package' builds offline. Prints the settings file "
                                      "(pass it as 'mvn -o -s FILE' to build a generated client's project).")
    repo.set_defaults(func=_maven_repo)


def _generate(args: argparse.Namespace) -> int:
    import sys

    from scorebridge.java.generate import JavaGenerateError, generate

    if args.out is not None and (args.group_id or args.artifact_id or args.project_version):
        raise JavaGenerateError("--group-id, --artifact-id and --version go with --maven (a Maven project)")
    out = args.out if args.out is not None else args.maven / "src" / "main" / "java"
    client = generate(args.bundle, args.package, out)
    files = list(client.files)
    if args.maven is not None:
        from scorebridge.java.project import write_project

        files += write_project(client.bundle, args.maven, group=args.group_id or args.package,
                               artifact=args.artifact_id, version=args.project_version)
    for f in files:
        print(f)
    for note in client.notes:
        print(f"note: {note}", file=sys.stderr)
    return 0


def _build(args: argparse.Namespace) -> int:
    from scorebridge.java.toolchain import build_runtime

    print(build_runtime(args.out, force=args.force))
    return 0


def _maven_repo(args: argparse.Namespace) -> int:
    from scorebridge.java.maven import assemble

    print(assemble().settings)
    return 0


def _classpath(args: argparse.Namespace) -> int:
    from scorebridge.java.toolchain import join_classpath, runtime_classpath

    entries = runtime_classpath()
    print("\n".join(map(str, entries)) if args.lines else join_classpath(entries))
    return 0
