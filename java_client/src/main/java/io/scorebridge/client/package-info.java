/**
 * Runtime library behind the Java clients that {@code scorebridge java generate} writes.
 *
 * <p>Two engines score a model bundle: {@link io.scorebridge.client.ScoringClient} calls the scoring
 * service over HTTP, {@link io.scorebridge.client.PmmlScorer} evaluates the bundle's {@code model.pmml}
 * in-process with JPMML-Evaluator. {@link io.scorebridge.client.FallbackPolicy} gives any call a time
 * budget and a default answer. Generated typed classes wrap these; they can also be used directly with
 * records keyed by input name.
 */
package io.scorebridge.client;
