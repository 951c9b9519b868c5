package io.scorebridge.client;

import com.sun.codemodel.JCodeModel;
import org.dmg.pmml.PMML;
import org.jpmml.codemodel.JCodeModelClassLoader;
import org.jpmml.evaluator.LoadingModelEvaluatorBuilder;
import org.jpmml.model.PMMLUtil;
import org.jpmml.transpiler.Transpiler;
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
        builder.transform(new TranspilerTransformer(new ScopedTranspiler()));
    }

    /**
     * Like JPMML's {@code InMemoryTranspiler}, but the compiled classes are defined in a loader whose parent
     * is the one that loaded JPMML. JPMML's own uses the system loader, which under a test launcher, an
     * application server or a fat jar cannot see {@code org.dmg.pmml}.
     */
    private static final class ScopedTranspiler extends Transpiler {

        ScopedTranspiler() {
            super(null);
        }

        @Override
        public PMML transpile(PMML xmlPmml) throws IOException {
            JCodeModel codeModel = compile(translate(xmlPmml));
            ClassLoader loader = new JCodeModelClassLoader(PMML.class.getClassLoader(), codeModel);
            try {
                return PMMLUtil.load(loader);
            } catch (Exception e) {
                throw new IOException("cannot load the transpiled PMML", e);
            }
        }
    }
}
