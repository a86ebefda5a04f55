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
 * @param conversionRecord the text of the directory's {@code conversion.json} when {@code models convert}
 *     made it: the source checkpoint's repository, revision and the sha256 of every source file
 */
public record ModelIdentity(
        String modelId,
        String modelType,
        String variant,
        Optional<String> revision,
        Supplier<String> weightsDigest,
        Optional<String> conversionRecord) {

    /** A model that was not converted by this project (no conversion record). */
    public ModelIdentity(String modelId, String modelType, String variant, Optional<String> revision,
            Supplier<String> weightsDigest) {
        this(modelId, modelType, variant, revision, weightsDigest, Optional.empty());
    }

    /** The digest; the first call reads the weight files. */
    public String digest() {
        return weightsDigest.get();
    }
}
