#!/usr/bin/env bash
# Install what scorebridge needs on a fresh Debian/Ubuntu machine, then the package itself.
#   bash scripts/bootstrap.sh [EXTRAS]     EXTRAS: export (default) or test
# System packages: a JDK (sklearn2pmml and JPMML run on Java; javac builds the Java client),
# JUnit 5 and Gson (the Java client's tests; Maven Central is not assumed to be reachable), Maven with the
# plugins java_client/pom.xml pins (Debian's /usr/share/maven-repo), wrk (benchmarks/java_bench.py), npm (the
# web console's charting library), redis-server (online features: the quickstart's keyed demo and the
# tests' real Redis) and, for the test extra, chromium (the console's browser tests).
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-export}"
python="${PYTHON:-python}"

need=()
command -v javac >/dev/null 2>&1 || need+=(openjdk-17-jdk-headless)
[ -f /usr/share/java/junit-platform-console-standalone.jar ] || need+=(junit5)
[ -f /usr/share/java/gson.jar ] || need+=(libgoogle-gson-java)
command -v mvn >/dev/null 2>&1 || need+=(maven)
mvn_repo=/usr/share/maven-repo/org/apache/maven
for plugin in resources:3.3.0 compiler:3.10.1 jar:3.3.0 install:3.1.0 clean:3.2.0; do
  [ -d "$mvn_repo/plugins/maven-${plugin%%:*}-plugin/${plugin##*:}" ] || need+=("libmaven-${plugin%%:*}-plugin-java")
done
[ -d "$mvn_repo/plugins/maven-surefire-plugin/2.22.3" ] || need+=(libsurefire-java)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
# the scoring service's tests rotate the audit log with the real logrotate
[ "$extras" != test ] || command -v logrotate >/dev/null 2>&1 || [ -x /usr/sbin/logrotate ] || need+=(logrotate)
# the web console's charting library comes from npm; its browser tests drive Debian's headless Chromium
command -v npm >/dev/null 2>&1 || need+=(npm)
[ "$extras" != test ] || command -v chromium >/dev/null 2>&1 || need+=(chromium)
if [ "${#need[@]}" -gt 0 ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "scorebridge: please install ${need[*]} (or equivalents) with your package manager" >&2
    exit 1
  fi
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "installing system packages: ${need[*]}" >&2
  # wait for another apt run (unattended upgrades, a parallel install) instead of failing at once
  lock=(-o DPkg::Lock::Timeout=300)
  $sudo apt-get "${lock[@]}" update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get "${lock[@]}" install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# the web console's plots: Observable Plot and d3, pinned in package-lock.json, copied into the package
# (git-ignored, shipped as package data); without them the console serves its tables only
if npm ci --silent --no-audit --no-fund; then
  mkdir -p web_console/static/vendor
  cp node_modules/d3/dist/d3.min.js node_modules/@observablehq/plot/dist/plot.umd.min.js web_console/static/vendor/
else
  echo "scorebridge: npm ci failed: the web console will show its tables without plots" >&2
fi
"$python" -m pip install -q --disable-pip-version-check -e ".[$extras]"
# java_client/.mvn/: the project-local Maven repository (JPMML and Gson from the wheels), so `mvn -o package` works
"$python" -m scorebridge java maven-repo >/dev/null
if [ "$extras" = test ]; then
  # KServe's SDK and MLServer pin packages this stack cannot take (see pyproject.toml's test extra,
  # which lists what they import): the real clients of the service's tests, installed without them
  "$python" -m pip install -q --disable-pip-version-check --no-deps kserve==0.21.0 mlserver==1.7.1
fi
