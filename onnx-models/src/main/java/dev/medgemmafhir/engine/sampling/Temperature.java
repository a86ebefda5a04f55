package dev.medgemmafhir.engine.sampling;

/** Divides logits by the temperature: below 1 sharpens the distribution, above 1 flattens it. */
public final class Temperature implements LogitsProcessor {

    private final float inverse;

    public Temperature(double temperature) {
        if (!(temperature > 0)) {
            throw new IllegalArgumentException("temperature must be > 0");
        }
        this.inverse = (float) (1.0 / temperature);
    }

    @Override
    public void process(float[] logits) {
        for (int i = 0; i < logits.length; i++) {
            logits[i] *= inverse;
        }
    }
}
