package dev.medgemmafhir.engine.forge;

import java.util.List;

/**
 * Ids of the Gemma special tokens in a forged vocabulary. Apart from pad/eos/bos/unk they
 * deliberately differ from the real MedGemma ids (105, 106, 255999, 256000, 262144), so an
 * engine that hard-codes the real ids fails on forged models.
 */
public record SpecialTokens(
        int pad,
        int eos,
        int bos,
        int unk,
        int startOfTurn,
        int endOfTurn,
        int startOfImage,
        int endOfImage,
        int imageSoftToken) {

    /** The ids {@code generation_config.json} lists as stop tokens: {@code <eos>} and {@code <end_of_turn>}. */
    public List<Integer> eosTokenIds() {
        return List.of(eos, endOfTurn);
    }
}
