package io.scorebridge.client;

import org.jpmml.evaluator.LoadingModelEvaluatorBuilder;
import org.jpmml.transpiler.InMemoryTranspiler;
import org.jpmml.transpiler.TranspilerTransformer;

import java.io.IOException;

/**
 * The only class that touches JPMML-Transpiler, so the transpiler jar is needed only when
 * {@link PmmlOptions#transpile(boolean)} is on (it is an optional dependency in the pom).
 */
final class Transpile {

    private Transpile() {
    }

    static void apply(LoadingModelEvaluatorBuilder builder) throws IOException {
        builder.transform(new TranspilerTransformer(new InMemoryTranspiler(null)));
    }
}
