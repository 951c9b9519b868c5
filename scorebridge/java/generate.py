"""Generate the typed Java client of one model bundle.

For a bundle named ``credit_risk`` this writes, under ``<out>/<package path>/``:

- ``CreditRiskInput.java``: an immutable record with a builder, one typed method per input
  (``debt_ratio`` -> ``debtRatio(Double)``); unset nullable inputs are missing; ``byKey("c123")`` (or
  ``builder().key(...)``) sends a record by entity key, the inputs not set filled by the service's
  feature store (``http(...)`` only);
- ``CreditRiskResult.java``: ``label()``/``probability(cls)``/``probabilities()`` or ``prediction()``,
  ``featureBatch()``/``featureFallback()``/``featureError()`` for a keyed record, plus ``of(...)``
  factories for hand-built fallback values;
- ``CreditRiskScorer.java``: the interface business code is written against, with ``http(URI)``,
  ``http(URI, ClientOptions)``, ``http(URI, Path bundle[, ClientOptions])``, ``pmml(Path)``,
  ``pmml(Path, PmmlOptions)``, ``pmmlResource(String)`` and ``withFallback(Duration, CreditRiskResult)``;
  ``Path`` arguments take any bundle reference (``<dir>``, ``<repo>/<name>``, ``<repo>/<name>@<version>``);
- ``CreditRiskScorerImpl.java``: package-private glue onto the runtime's engines.

The sources need only the runtime jar (``scorebridge java classpath``) to compile. A bundle without PMML
(an ONNX-only export) still gets a client: it scores over HTTP, and its ``pmml(...)`` factories refuse the
bundle with a ``ModelLoadException`` naming the artifacts it has (:attr:`GeneratedClient.notes` says so).
"""

from __future__ import annotations

import html
import json
import keyword
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scorebridge.bundle import Bundle
from scorebridge.errors import ScorebridgeError

JAVA_KEYWORDS = frozenset({
    "abstract", "assert", "boolean", "break", "byte", "case", "catch", "char", "class", "const", "continue",
    "default", "do", "double", "else", "enum", "extends", "false", "final", "finally", "float", "for", "goto",
    "if", "implements", "import", "instanceof", "int", "interface", "long", "native", "new", "null", "package",
    "private", "protected", "public", "return", "short", "static", "strictfp", "super", "switch",
    "synchronized", "this", "throw", "throws", "transient", "true", "try", "void", "volatile", "while", "var",
    "yield", "record", "sealed", "permits",
})
# Methods the generated Input and its Builder already have; a field may not take these names.
RESERVED_METHODS = frozenset({"build", "builder", "fromMap", "toMap", "toString", "hashCode", "equals", "key",
                              "byKey", "isKeyed", "keyedRow",
                              "getClass", "notify", "notifyAll", "wait", "clone", "finalize", "values"})
# manifest dtype -> runtime Coerce method used by fromMap
COERCE = {"float64": "toDouble", "int64": "toLong", "string": "toText", "bool": "toBoolean"}
# manifest dtype -> (boxed Java type, primitive or None)
JAVA_TYPES = {
    "float64": ("Double", "double"),
    "int64": ("Long", "long"),
    "string": ("String", None),
    "bool": ("Boolean", "boolean"),
}
_PACKAGE_RE = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*(\.[A-Za-z_$][A-Za-z0-9_$]*)*$")


_NO_PMML = ("The bundle has no PMML artifact (it has: {artifacts}): in-process scoring (pmml(...)) is unavailable; "
            "http(...) works.")


class JavaGenerateError(ScorebridgeError):
    """The bundle or the options cannot be turned into Java sources."""


def _words(name: str) -> list[str]:
    """Split a name into words on non-alphanumerics and lower-to-upper case changes."""
    parts = re.split(r"[^0-9A-Za-z]+", name)
    words: list[str] = []
    for part in parts:
        words += [w for w in re.split(r"(?<=[a-z0-9])(?=[A-Z])", part) if w]
    return words


def upper_camel(name: str) -> str:
    """``credit_risk`` -> ``CreditRisk``; a leading digit gets a ``Model`` prefix."""
    out = "".join(w[0].upper() + w[1:] for w in _words(name)) or "Model"
    return "Model" + out if out[0].isdigit() else out


def lower_camel(name: str) -> str:
    """``debt_ratio`` -> ``debtRatio``; ``AGE`` -> ``age``; a leading digit gets an ``f`` prefix."""
    words = _words(name)
    if not words:
        return "field"
    first = words[0].lower() if words[0].isupper() else words[0][0].lower() + words[0][1:]
    out = first + "".join(w[0].upper() + w[1:] for w in words[1:])
    return "f" + out if out[0].isdigit() else out


def java_string(text: str) -> str:
    """A Java string literal (JSON escaping is valid Java and never yields a raw \\u000a)."""
    return json.dumps(text, ensure_ascii=True)


def javadoc(lines: list[str], indent: str = "") -> str:
    """A javadoc comment; text is HTML-escaped and cannot close the comment early."""
    body = [html.escape(line, quote=False).replace("*/", "*&#47;") for line in lines]
    if len(body) == 1:
        return f"{indent}/** {body[0]} */\n"
    return f"{indent}/**\n" + "".join(f"{indent} * {b}\n" if b else f"{indent} *\n" for b in body) + f"{indent} */\n"


@dataclass(frozen=True)
class JavaField:
    """One model input as the generated code sees it."""

    name: str
    method: str
    boxed: str
    primitive: str | None
    nullable: bool
    dtype: str
    optype: str
    categories: tuple[Any, ...] | None
    strict: bool = False

    def doc(self) -> list[str]:
        """Javadoc lines describing the input."""
        kind = "categorical" if self.optype == "categorical" else "continuous"
        lines = [f"Input {self.name!r} ({self.dtype}, {kind}); "
                 + ("null or unset means missing." if self.nullable else "required: the model does not accept a "
                    "missing value.")]
        if self.categories:
            shown = ", ".join(json.dumps(c) for c in self.categories[:50])
            more = f" (and {len(self.categories) - 50} more)" if len(self.categories) > 50 else ""
            lines.append(f"Known categories: {shown}{more}. " + (
                "Only these are accepted: build() refuses any other value (the model cannot score it)."
                if self.strict else "Other values are scored as unseen categories."))
        return lines


def java_fields(inputs: list[dict[str, Any]]) -> list[JavaField]:
    """Map manifest inputs to Java method names and types, resolving keyword and name clashes."""
    used: set[str] = set()
    fields = []
    for spec in inputs:
        dtype = spec.get("dtype")
        if dtype not in JAVA_TYPES:
            raise JavaGenerateError(f"input {spec.get('name')!r} has dtype {dtype!r}; the Java generator supports "
                                    + ", ".join(JAVA_TYPES))
        method = lower_camel(spec["name"])
        if method in JAVA_KEYWORDS or method in RESERVED_METHODS or keyword.iskeyword(method):
            method += "Value"
        base, n = method, 2
        while method in used:
            method, n = f"{base}{n}", n + 1
        used.add(method)
        boxed, primitive = JAVA_TYPES[dtype]
        cats = spec.get("categories")
        fields.append(JavaField(name=spec["name"], method=method, boxed=boxed, primitive=primitive,
                                nullable=bool(spec.get("nullable", True)), dtype=dtype,
                                optype=spec.get("optype", "continuous"),
                                categories=tuple(cats) if cats else None,
                                strict=bool(spec.get("strict")) and bool(cats)))
    return fields


def _java_set(f: JavaField) -> str:
    """A Java ``Set`` literal of a strict field's categories, in its boxed type."""
    if f.dtype == "int64":
        items = [f"{int(c)}L" for c in f.categories or ()]
    elif f.dtype == "float64":
        items = [repr(float(c)) for c in f.categories or ()]
    elif f.dtype == "bool":
        items = [json.dumps(bool(c)) for c in f.categories or ()]
    else:
        items = [java_string(str(c)) for c in f.categories or ()]
    return f"java.util.Set.of({', '.join(items)})"


def class_strings(manifest: dict[str, Any]) -> list[str]:
    """Class labels as the strings the client uses (the manifest's ``pmml.probability_fields`` keys)."""
    probs = (manifest.get("pmml") or {}).get("probability_fields") or {}
    classes = manifest.get("classes") or []
    if probs and len(probs) == len(classes):
        return list(probs)
    return [json.dumps(c) if isinstance(c, bool) else str(c) for c in classes]


def _model_spec_expr(manifest: dict[str, Any], classes: list[str]) -> str:
    """Java expression building the runtime ``ModelSpec`` constant (inputs, classes, artifacts, PMML fields)."""
    task = "CLASSIFICATION" if manifest["task"] == "classification" else "REGRESSION"  # anomaly: a score
    pmml = manifest.get("pmml") or {}
    art = (manifest.get("artifacts") or {}).get("pmml") or {}
    calls = [f"ModelSpec.builder({java_string(manifest['name'])}, ModelSpec.Task.{task})",
             f".version({java_string(str(manifest['version']))})"]
    calls += [f".input({java_string(i['name'])})" for i in manifest["inputs"]]
    calls += [f".addClass({java_string(c)})" for c in classes]
    calls += [f".artifact({java_string(kind)})" for kind in sorted(manifest.get("artifacts") or {})]
    for cls, field in (pmml.get("probability_fields") or {}).items():
        calls.append(f".probabilityField({java_string(cls)}, {java_string(field)})")
    if pmml.get("label_field"):
        calls.append(f".labelField({java_string(pmml['label_field'])})")
    if pmml.get("prediction_field"):
        calls.append(f".predictionField({java_string(pmml['prediction_field'])})")
    if art.get("sha256"):
        calls.append(f".pmml({java_string(art.get('file', 'model.pmml'))}, {java_string(art['sha256'])})")
    calls.append(".build()")
    return ("\n" + " " * 12).join(calls)


def _header(package: str, imports: list[str], manifest: dict[str, Any]) -> str:
    lines = [f"// Generated by scorebridge from bundle {manifest['name']}@{manifest['version']}. Do not edit:",
             "// regenerate with 'scorebridge java generate'.",
             f"package {package};", ""]
    lines += [f"import {i};" for i in sorted(imports)]
    return "\n".join(lines) + "\n\n"


def _model_doc(manifest: dict[str, Any], classes: list[str]) -> list[str]:
    lines = [f"Model {manifest['name']!r}, version {manifest['version']}: {manifest['task']}"
             + (f" of {manifest.get('target')!r}" if manifest.get("target") else "")
             + (f" ({manifest['model_family']})" if manifest.get("model_family") else "") + "."]
    if classes:
        lines.append("Classes: " + ", ".join(classes) + ".")
    fid = (manifest.get("fidelity") or {}).get("pmml") or {}
    if "max_abs_diff" in fid and (manifest.get("artifacts") or {}).get("pmml"):  # a PMML left out may be measured
        lines.append(f"PMML fidelity at export: max |diff| {fid['max_abs_diff']:.3g} vs the native pipeline on "
                     f"{fid.get('rows', '?')} verification rows.")
    return lines


def _input_source(cls: str, fields: list[JavaField], manifest: dict[str, Any], package: str) -> str:
    n = len(fields)
    getters, setters, coerce, required = [], [], [], []
    for i, f in enumerate(fields):
        doc = f.doc()
        getters.append(javadoc(doc, "    ") + f"    public {f.boxed} {f.method}() {{\n"
                       f"        return ({f.boxed}) values[{i}];\n    }}\n")
        if f.nullable or f.primitive is None:
            setters.append(javadoc(doc, "        ") + f"        public Builder {f.method}({f.boxed} value) {{\n"
                           f"            values[{i}] = value;\n            sent[{i}] = true;\n"
                           "            return this;\n        }\n")
        if f.primitive is not None:
            setters.append(javadoc(doc, "        ") + f"        public Builder {f.method}({f.primitive} value) {{\n"
                           f"            values[{i}] = value;\n            sent[{i}] = true;\n"
                           "            return this;\n        }\n")
        if not f.nullable:
            required.append(f"            require({i}, {java_string(f.name)});\n")
        if f.strict:
            required.append(f"            allow({i}, {java_string(f.name)}, {_java_set(f)});\n")
        coerce.append(f"            case {java_string(f.name)}:\n"
                      f"                b.values[{i}] = Coerce.{COERCE[f.dtype]}({java_string(f.name)}, "
                      f"e.getValue());\n                break;\n")
    doc = _model_doc(manifest, []) + ["", f"One input record: {cls}.builder().{fields[0].method}(...).build() "
                                      "(unset nullable inputs are missing). Immutable and thread-safe."
                                      if fields else "One input record."]
    getters_src, setters_src = "\n".join(getters), "\n".join(setters)
    names = ", ".join(java_string(f.name) for f in fields)
    return _header(package, ["io.scorebridge.client.Coerce", "io.scorebridge.client.KeyedRow", "java.util.Arrays",
                             "java.util.Map", "java.util.Objects"], manifest) + \
        javadoc(doc) + f"""public final class {cls} {{

    /** Input names in the model's order. */
    public static final java.util.List<String> FIELDS = java.util.List.of({names});

    private final Object[] values;
    private final Object key;  // the entity key of a record sent by key, else null
    private final boolean[] sent;  // which inputs were set (a keyed record sends only these)

    private {cls}(Object[] values, Object key, boolean[] sent) {{
        this.values = values;
        this.key = key;
        this.sent = sent;
    }}

    public static Builder builder() {{
        return new Builder();
    }}

    /**
     * A record sent by entity key: the scoring service fills every input not set from the model's online
     * feature set (the current batch holding the key, else the previous one). Set inputs on
     * {{@code builder().key(key)}} to send them too (a value sent wins; {{@code null}} is missing). Only
     * {{@code http(...)}} scorers can score it: in-process scoring throws {{@link UnsupportedOperationException}}.
     */
    public static {cls} byKey(String key) {{
        return builder().key(key).build();
    }}

    /** {{@link #byKey(String)}} for an integer key. */
    public static {cls} byKey(long key) {{
        return builder().key(key).build();
    }}

    /** The entity key ({{@code String}} or {{@code Long}}), or {{@code null}} for a record of values. */
    public Object key() {{
        return key;
    }}

    /** Whether this record is sent by key. */
    public boolean isKeyed() {{
        return key != null;
    }}

    /** The record as the runtime's engines take a keyed record. */
    KeyedRow keyedRow() {{
        return new KeyedRow(key, values, sent);
    }}

    /**
     * Builds a record from a map keyed by input name (e.g. a row from a feature store); numbers are
     * converted to each input's type, {{@code null}} and NaN are missing, unknown names are refused.
     */
    public static {cls} fromMap(Map<String, ?> record) {{
        Builder b = new Builder();
        for (Map.Entry<String, ?> e : record.entrySet()) {{
            switch (e.getKey()) {{
{"".join(coerce)}            default:
                throw new IllegalArgumentException("unknown input field '" + e.getKey()
                        + "'; expected one of " + FIELDS);
            }}
        }}
        return b.build();
    }}

{getters_src}
    /** The values in input order (not copied: never modify). */
    Object[] values() {{
        return values;
    }}

    /** Input name to value, in input order; missing inputs map to {{@code null}}. */
    public Map<String, Object> toMap() {{
        Map<String, Object> m = new java.util.LinkedHashMap<>();
        for (int i = 0; i < values.length; i++) {{
            m.put(FIELDS.get(i), values[i]);
        }}
        return m;
    }}

    @Override
    public boolean equals(Object o) {{
        return o instanceof {cls} && Arrays.equals(values, (({cls}) o).values) && Objects.equals(key, (({cls}) o).key)
                && (key == null || Arrays.equals(sent, (({cls}) o).sent));
    }}

    @Override
    public int hashCode() {{
        return Arrays.hashCode(values) * 31 + Objects.hashCode(key);
    }}

    @Override
    public String toString() {{
        return "{cls}" + (key == null ? "" : "[key=" + key + "]") + toMap();
    }}

    /** Builds a {{@link {cls}}}; not thread-safe, use one per record. */
    public static final class Builder {{
        private final Object[] values = new Object[{n}];
        private final boolean[] sent = new boolean[{n}];
        private Object key;

        private Builder() {{
        }}

        /** Sends the record by entity key (see {{@link {cls}#byKey(String)}}): inputs not set come from the store. */
        public Builder key(String key) {{
            this.key = Objects.requireNonNull(key, "key");
            return this;
        }}

        /** {{@link #key(String)}} for an integer key. */
        public Builder key(long key) {{
            this.key = key;
            return this;
        }}

{setters_src}
        private void allow(int i, String name, java.util.Set<?> categories) {{
            if (values[i] != null && !categories.contains(values[i])) {{
                throw new IllegalArgumentException("input '" + name + "' is " + values[i]
                        + ", a category the model did not see in training and cannot score; expected one of "
                        + categories);
            }}
        }}

        private void require(int i, String name) {{
            if (values[i] == null && (key == null || sent[i])) {{  // a keyed record's unset inputs come from the store
                throw new IllegalStateException("input '" + name
                        + "' is required: the model does not accept a missing value");
            }}
        }}

        public {cls} build() {{
{"".join(required)}            return new {cls}(values.clone(), key, key == null ? null : sent.clone());
        }}
    }}
}}
"""


def _result_source(cls: str, manifest: dict[str, Any], classes: list[str], package: str) -> str:
    header = _header(package, ["io.scorebridge.client.Prediction", "java.util.LinkedHashMap", "java.util.List",
                               "java.util.Map"], manifest)
    name = java_string(manifest["name"])
    common = f"""    private final Prediction prediction;

    {cls}(Prediction prediction) {{
        this.prediction = prediction;
    }}

    /** The model version that answered, or {{@code null}} for a hand-built value. */
    public String modelVersion() {{
        return prediction.version();
    }}

    /** Which engine answered: {{@code pmml}}, {{@code pmml-transpiled}}, {{@code http:...}} or {{@code default}}. */
    public String engine() {{
        return prediction.engine();
    }}

    /** True for a value built with {{@code of(...)}}, e.g. the default a fallback returned. */
    public boolean isDefault() {{
        return "default".equals(prediction.engine());
    }}

    /**
     * The date of the feature batch the service filled a record sent by key from, or {{@code null}} (not sent by
     * key, no batch holds the key, or {{@link #featureError()}}).
     */
    public String featureBatch() {{
        return prediction.featureBatch();
    }}

    /** Whether that batch is the previous one (the current batch does not hold the key). */
    public boolean featureFallback() {{
        return prediction.featureFallback();
    }}

    /**
     * {{@code "timeout"}} or {{@code "unavailable"}}: the service could not read the feature store for this
     * record sent by key and scored it with the inputs not sent missing; {{@code null}} otherwise. A scorer
     * {{@code withFallback(...)}} returns its default instead, by default.
     */
    public String featureError() {{
        return prediction.featureError();
    }}

    /** The untyped runtime prediction. */
    public Prediction asPrediction() {{
        return prediction;
    }}

    @Override
    public boolean equals(Object o) {{
        return o instanceof {cls} && prediction.equals((({cls}) o).prediction);
    }}

    @Override
    public int hashCode() {{
        return prediction.hashCode();
    }}

    @Override
    public String toString() {{
        return "{cls}" + prediction.toString().substring("Prediction".length());
    }}
"""
    if manifest["task"] != "classification":
        body = f"""    /**
     * A hand-built result, e.g. the safe default for {{@code withFallback}}.
     */
    public static {cls} of(double prediction) {{
        return new {cls}(Prediction.regression(prediction, {name}, null, "default"));
    }}

    /** The predicted value. */
    public double prediction() {{
        return prediction.prediction();
    }}

"""
    else:
        body = f"""    /** Class labels in the model's order. */
    public static final List<String> CLASSES = List.of({", ".join(java_string(c) for c in classes)});

    /**
     * A hand-built result, e.g. the safe default for {{@code withFallback}}: {{@code label}} must be one of
     * {{@link #CLASSES}}; classes left out of {{@code probabilities}} get NaN.
     */
    public static {cls} of(String label, Map<String, Double> probabilities) {{
        if (!CLASSES.contains(label)) {{
            throw new IllegalArgumentException("unknown class '" + label + "'; classes are " + CLASSES);
        }}
        Map<String, Double> ordered = new LinkedHashMap<>();
        for (String c : CLASSES) {{
            ordered.put(c, probabilities.getOrDefault(c, Double.NaN));
        }}
        for (String c : probabilities.keySet()) {{
            if (!CLASSES.contains(c)) {{
                throw new IllegalArgumentException("unknown class '" + c + "'; classes are " + CLASSES);
            }}
        }}
        return new {cls}(Prediction.classification(label, ordered, {name}, null, "default"));
    }}

    /** The predicted class label. */
    public String label() {{
        return prediction.label();
    }}

    /** The probability of class {{@code cls}} (one of {{@link #CLASSES}}). */
    public double probability(String cls) {{
        return prediction.probability(cls);
    }}

    /** Class to probability, in the model's class order (read-only). */
    public Map<String, Double> probabilities() {{
        return prediction.probabilities();
    }}

"""
    doc = _model_doc(manifest, classes) + ["", "One answer of the model. Immutable."]
    return header + javadoc(doc) + f"public final class {cls} {{\n\n" + body + common + "}\n"


def _scorer_source(model: str, manifest: dict[str, Any], classes: list[str], package: str) -> str:
    inp, res, scorer = f"{model}Input", f"{model}Result", f"{model}Scorer"
    imports = ["io.scorebridge.client.ClientOptions", "io.scorebridge.client.Engine",
               "io.scorebridge.client.FallbackPolicy", "io.scorebridge.client.FallbackStats",
               "io.scorebridge.client.HttpEngine", "io.scorebridge.client.ModelSpec",
               "io.scorebridge.client.PmmlOptions", "io.scorebridge.client.PmmlScorer", "java.net.URI",
               "java.nio.file.Path", "java.time.Duration", "java.util.List"]
    has_pmml = bool((manifest.get("artifacts") or {}).get("pmml"))
    doc = _model_doc(manifest, classes) + [
        "",
        "Business code is written against this interface; the deployment chooses the transport:",
        f"{scorer}.http(URI) calls the scoring service, {scorer}.pmml(Path) evaluates the PMML in-process,",
        "and withFallback(budget, default) adds the disaster plan. Implementations are thread-safe.",
    ]
    if not has_pmml:
        doc += ["", _NO_PMML.format(artifacts=", ".join(sorted(manifest.get("artifacts") or {})))]
    pmml_doc = ("" if has_pmml else
                "\n     * <p>The bundle this client was generated from has no PMML: this works only for a bundle that "
                "has one.")
    return _header(package, imports, manifest) + javadoc(doc) + f"""public interface {scorer} {{

    /** The model this client was generated for (names, classes, artifacts, PMML digest). */
    ModelSpec MODEL = {_model_spec_expr(manifest, classes)};

    /** Scores one record. */
    {res} predict({inp} input);

    /** Scores many records; one result per input, in order. */
    List<{res}> predictBatch(List<{inp}> inputs);

    /**
     * This scorer with a time budget: when a call takes longer than {{@code budget}} or fails, it returns
     * {{@code defaultResult}} at once (see {{@link #fallbackStats()}} for how often). So does a record sent by
     * key whose features the service could not read ({{@code featureError()}}: a store timeout or outage);
     * {{@code withFallback(new FallbackPolicy(budget, 256, false), defaultResult)}} keeps those answers.
     */
    default {scorer} withFallback(Duration budget, {res} defaultResult) {{
        return withFallback(new FallbackPolicy(budget), defaultResult);
    }}

    /** This scorer with the given fallback policy (budget, concurrency, feature errors) and default value. */
    default {scorer} withFallback(FallbackPolicy policy, {res} defaultResult) {{
        return new {scorer}Impl.Fallback(this, policy, defaultResult);
    }}

    /** How often a fallback scorer answered with its default; all zero for other scorers. */
    default FallbackStats fallbackStats() {{
        return FallbackStats.NONE;
    }}

    /** Calls the scoring service at {{@code baseUrl}} (e.g. {{@code http://scoring:8000}}) with default options. */
    static {scorer} http(URI baseUrl) {{
        return http(baseUrl, ClientOptions.defaults());
    }}

    /** Calls the scoring service with the given timeouts, retries and model version (default: latest). */
    static {scorer} http(URI baseUrl, ClientOptions options) {{
        return of(new HttpEngine(baseUrl, options, MODEL));
    }}

    /**
     * Calls the scoring service for the version of {{@code bundle}}: a bundle directory, {{@code <repo>/<name>}}
     * (its latest version) or {{@code <repo>/<name>@<version>}}, checked to match this client.
     */
    static {scorer} http(URI baseUrl, Path bundle) {{
        return http(baseUrl, bundle, ClientOptions.defaults());
    }}

    /** As {{@link #http(URI, Path)}}, with the given timeouts and retries (the version is the bundle's). */
    static {scorer} http(URI baseUrl, Path bundle, ClientOptions options) {{
        return of(HttpEngine.forBundle(baseUrl, bundle, options, MODEL));
    }}

    /**
     * Evaluates the PMML in-process. {{@code pmmlFile}} is the bundle's {{@code model.pmml}} (its sha256 must be
     * the one this client was generated for) or a bundle reference: a bundle directory, {{@code <repo>/<name>}}
     * (latest) or {{@code <repo>/<name>@<version>}}, checked against its own manifest.{pmml_doc}
     */
    static {scorer} pmml(Path pmmlFile) {{
        return pmml(pmmlFile, PmmlOptions.defaults());
    }}

    /** As {{@link #pmml(Path)}}; {{@code PmmlOptions.defaults().transpile(true)}} compiles the PMML to bytecode. */
    static {scorer} pmml(Path pmmlFile, PmmlOptions options) {{
        return of(PmmlScorer.open(pmmlFile, MODEL, options));
    }}

    /** Evaluates a PMML shipped on the classpath (e.g. {{@code models/{manifest['name']}.pmml}} in your jar). */
    static {scorer} pmmlResource(String resource) {{
        return of(PmmlScorer.fromResource(resource, MODEL, PmmlOptions.defaults()));
    }}

    /** Scores with any engine (e.g. a stub in tests). */
    static {scorer} of(Engine engine) {{
        return new {scorer}Impl(engine);
    }}
}}
"""


def _impl_source(model: str, manifest: dict[str, Any], package: str) -> str:
    inp, res, scorer = f"{model}Input", f"{model}Result", f"{model}Scorer"
    imports = ["io.scorebridge.client.Engine", "io.scorebridge.client.FallbackPolicy",
               "io.scorebridge.client.FallbackStats", "io.scorebridge.client.KeyedRow",
               "io.scorebridge.client.Prediction", "java.util.ArrayList",
               "java.util.Collections", "java.util.List"]
    return _header(package, imports, manifest) + f"""/** Glue between {scorer} and the runtime engines. */
final class {scorer}Impl implements {scorer} {{

    private final Engine engine;

    {scorer}Impl(Engine engine) {{
        this.engine = engine;
    }}

    @Override
    public {res} predict({inp} input) {{
        if (input.isKeyed()) {{
            return new {res}(engine.predictKeyed(List.of(input.keyedRow())).get(0));
        }}
        return new {res}(engine.predict(input.values()));
    }}

    @Override
    public List<{res}> predictBatch(List<{inp}> inputs) {{
        boolean keyed = false;
        for ({inp} in : inputs) {{
            keyed |= in.isKeyed();
        }}
        List<Prediction> predictions;
        if (keyed) {{
            List<KeyedRow> rows = new ArrayList<>(inputs.size());
            for ({inp} in : inputs) {{
                rows.add(in.keyedRow());
            }}
            predictions = engine.predictKeyed(rows);
        }} else {{
            List<Object[]> rows = new ArrayList<>(inputs.size());
            for ({inp} in : inputs) {{
                rows.add(in.values());
            }}
            predictions = engine.predictBatch(rows);
        }}
        List<{res}> out = new ArrayList<>(inputs.size());
        for (Prediction p : predictions) {{
            out.add(new {res}(p));
        }}
        return out;
    }}

    @Override
    public String toString() {{
        return "{scorer}[" + engine.getClass().getSimpleName() + "]";
    }}

    /** The disaster plan: budget, default value, counters. */
    static final class Fallback implements {scorer} {{
        private final {scorer} delegate;
        private final FallbackPolicy policy;
        private final {res} defaultResult;

        Fallback({scorer} delegate, FallbackPolicy policy, {res} defaultResult) {{
            this.delegate = delegate;
            this.policy = policy;
            this.defaultResult = java.util.Objects.requireNonNull(defaultResult, "defaultResult");
        }}

        @Override
        public {res} predict({inp} input) {{
            {res} answer = policy.call(() -> delegate.predict(input), defaultResult);
            return policy.checkFeatures(answer.asPrediction(), answer, defaultResult);
        }}

        @Override
        public List<{res}> predictBatch(List<{inp}> inputs) {{
            List<{res}> answers = policy.call(() -> delegate.predictBatch(inputs),
                    Collections.nCopies(inputs.size(), defaultResult));
            List<{res}> out = new ArrayList<>(answers.size());
            for ({res} answer : answers) {{
                out.add(policy.checkFeatures(answer.asPrediction(), answer, defaultResult));
            }}
            return out;
        }}

        @Override
        public FallbackStats fallbackStats() {{
            return policy;
        }}

        @Override
        public String toString() {{
            return delegate + ".withFallback(" + policy.budget().toMillis() + " ms)";
        }}
    }}
}}
"""


@dataclass(frozen=True)
class GeneratedClient:
    """What :func:`generate` wrote, and what the user should know about it (``notes``)."""

    package: str
    model_class: str
    files: tuple[Path, ...]
    bundle: Bundle
    notes: tuple[str, ...] = ()

    @property
    def bundle_dir(self) -> Path:
        """The resolved bundle directory."""
        return self.bundle.path

    def class_name(self, suffix: str) -> str:
        """Fully qualified name of ``<Model><suffix>``, e.g. ``class_name("Scorer")``."""
        return f"{self.package}.{self.model_class}{suffix}"


def generate(bundle: str | Path, package: str, out_dir: str | Path) -> GeneratedClient:
    """Write the typed client of ``bundle`` (any bundle reference) into the source root ``out_dir``."""
    if not _PACKAGE_RE.match(package) or any(p in JAVA_KEYWORDS for p in package.split(".")):
        raise JavaGenerateError(f"--package {package!r} is not a valid Java package name (e.g. com.example.scoring)")
    loaded = Bundle.load(bundle, verify=False)
    manifest = loaded.manifest
    notes = []
    if not (manifest.get("artifacts") or {}).get("pmml"):
        notes.append(f"bundle {loaded.name}@{loaded.version}: "
                     + _NO_PMML.format(artifacts=", ".join(sorted(manifest.get("artifacts") or {}))))
    model = upper_camel(manifest["name"])
    classes = class_strings(manifest) if manifest["task"] == "classification" else []
    fields = java_fields(manifest["inputs"])
    target = Path(out_dir).joinpath(*package.split("."))
    target.mkdir(parents=True, exist_ok=True)
    sources = {
        f"{model}Input.java": _input_source(f"{model}Input", fields, manifest, package),
        f"{model}Result.java": _result_source(f"{model}Result", manifest, classes, package),
        f"{model}Scorer.java": _scorer_source(model, manifest, classes, package),
        f"{model}ScorerImpl.java": _impl_source(model, manifest, package),
    }
    written = []
    for name, text in sources.items():
        path = target / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return GeneratedClient(package=package, model_class=model, files=tuple(written), bundle=loaded,
                           notes=tuple(notes))
