package dev.medgemmafhir.engine;

import java.util.Optional;
import java.util.function.Supplier;

/**
 * Which model is loaded, for a FHIR Device's name and version.
 *
 * @param modelId the repository id when known (e.g. {@code google/medgemma-4b-it} from a Hugging Face
 *     cache path), otherwise the directory name
 * @param modelType {@code model_type} from config.json (e.g. {@code gemma3})
 * @param variant the quantization variant in use (e.g. {@code q4})
 * @param revision the snapshot revision when the directory is a Hugging Face cache snapshot
 * @param weightsDigest {@code sha256:<hex>} over the variant's graph and weight files and the tokenizer,
 *     computed once on first use (it reads every byte of the weights)
 */
public record ModelIdentity(
        String modelId,
        String modelType,
        String variant,
        Optional<String> revision,
        Supplier<String> weightsDigest) {

    /** The digest; the first call reads the weight files. */
    public String digest() {
        return weightsDigest.get();
    }
}
