package dev.medgemmafhir.engine.forge;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A small Gemma-style BPE vocabulary and its {@code tokenizer.json}: {@code <pad> <eos> <bos> <unk>}
 * at Gemma's ids 0-3, byte-fallback tokens {@code <0x00>..<0xFF>}, the chat and image special tokens
 * at ids that differ from the real ones, printable ASCII, merges learned from a short clinical
 * text, and {@code <unusedN>} fillers up to the requested vocabulary size. The image tokens take
 * the last ids, as {@code <image_soft_token>} sits near the top of the real vocabulary.
 */
final class ForgedTokenizer {

    static final String SPACE = "\u2581";
    private static final int FIRST_BYTE_ID = 4;
    private static final int START_OF_TURN_ID = FIRST_BYTE_ID + 256;
    private static final List<String> BASE_SYMBOLS = baseSymbols();
    /** Specials, bytes, printable ASCII and the three image tokens. */
    static final int MIN_VOCAB = START_OF_TURN_ID + 2 + BASE_SYMBOLS.size() + 3;

    /** Text the merges are learned from: chat-format words and clinical phrases. */
    private static final String MERGE_CORPUS = String.join(" ",
            "user model system the patient was admitted with chest pain and shortness of breath .",
            "blood pressure was stable and the heart rate was normal . no acute findings on the chest x-ray .",
            "summarize the encounter for the discharge note . the radiology report describes a small nodule",
            "in the right lower lobe . follow up imaging is recommended in three months .",
            "history of diabetes , hypertension and asthma . medications include metformin , lisinopril and",
            "albuterol . allergies : penicillin . assessment and plan : continue current therapy , review the",
            "labs and schedule a visit . describe this image . what is the diagnosis ? the findings are",
            "consistent with pneumonia . there is no evidence of fracture . impression : normal study .",
            "you are a helpful medical assistant . answer the question about the patient record .");

    private final SpecialTokens specialTokens;
    private final List<String> tokens;
    private final List<String> merges;

    ForgedTokenizer(int vocabSize) {
        if (vocabSize < MIN_VOCAB) {
            throw new IllegalArgumentException("vocab " + vocabSize + " < " + MIN_VOCAB);
        }
        String[] byId = new String[vocabSize];
        byId[0] = "<pad>";
        byId[1] = "<eos>";
        byId[2] = "<bos>";
        byId[3] = "<unk>";
        for (int b = 0; b < 256; b++) {
            byId[FIRST_BYTE_ID + b] = String.format("<0x%02X>", b);
        }
        byId[START_OF_TURN_ID] = "<start_of_turn>";
        byId[START_OF_TURN_ID + 1] = "<end_of_turn>";
        byId[vocabSize - 3] = "<start_of_image>";
        byId[vocabSize - 2] = "<end_of_image>";
        byId[vocabSize - 1] = "<image_soft_token>";
        int next = START_OF_TURN_ID + 2;
        for (String symbol : BASE_SYMBOLS) {
            byId[next++] = symbol;
        }
        int mergeBudget = vocabSize - 3 - next;
        this.merges = learnMerges(mergeBudget);
        Set<String> merged = new HashSet<>();
        for (String merge : merges) {
            // Two merges may spell the same token ("a bc", "ab c"): it gets one id, both rules stay.
            String token = merge.replace(" ", "");
            if (merged.add(token)) {
                byId[next++] = token;
            }
        }
        for (int unused = 0; next < vocabSize - 3; unused++) {
            byId[next++] = "<unused" + unused + ">";
        }
        this.tokens = List.of(byId);
        this.specialTokens = new SpecialTokens(0, 1, 2, 3, START_OF_TURN_ID, START_OF_TURN_ID + 1,
                vocabSize - 3, vocabSize - 2, vocabSize - 1);
    }

    SpecialTokens specialTokens() {
        return specialTokens;
    }

    /** Token strings by id. */
    List<String> tokens() {
        return tokens;
    }

    /** The special tokens as {@code added_tokens}: matched on raw text, never split. */
    List<Map<String, Object>> addedTokens() {
        SpecialTokens s = specialTokens;
        List<Map<String, Object>> added = new ArrayList<>();
        for (int id : new int[] {s.pad(), s.eos(), s.bos(), s.unk(), s.startOfTurn(), s.endOfTurn(),
                s.startOfImage(), s.endOfImage(), s.imageSoftToken()}) {
            Map<String, Object> token = new LinkedHashMap<>();
            token.put("id", id);
            token.put("content", tokens.get(id));
            token.put("single_word", false);
            token.put("lstrip", false);
            token.put("rstrip", false);
            token.put("normalized", false);
            token.put("special", true);
            added.add(token);
        }
        return added;
    }

    /** The {@code tokenizer.json} document, Gemma's pipeline: spaces become ▁, BPE with byte fallback, {@code <bos>} prepended. */
    Map<String, Object> tokenizerJson() {
        Map<String, Object> root = new LinkedHashMap<>();
        root.put("version", "1.0");
        root.put("truncation", null);
        root.put("padding", null);
        root.put("added_tokens", addedTokens());
        root.put("normalizer", Map.of("type", "Replace", "pattern", Map.of("String", " "), "content", SPACE));
        root.put("pre_tokenizer", ordered("type", "Split", "pattern", Map.of("String", " "),
                "behavior", "MergedWithPrevious", "invert", false));
        String bos = tokens.get(specialTokens.bos());
        Map<String, Object> bosPiece = Map.of("SpecialToken", ordered("id", bos, "type_id", 0));
        root.put("post_processor", ordered(
                "type", "TemplateProcessing",
                "single", List.of(bosPiece, Map.of("Sequence", ordered("id", "A", "type_id", 0))),
                "pair", List.of(bosPiece, Map.of("Sequence", ordered("id", "A", "type_id", 0)),
                        bosPiece, Map.of("Sequence", ordered("id", "B", "type_id", 1))),
                "special_tokens", Map.of(bos, ordered("id", bos, "ids", List.of(specialTokens.bos()), "tokens", List.of(bos)))));
        root.put("decoder", ordered("type", "Sequence", "decoders", List.of(
                ordered("type", "Replace", "pattern", Map.of("String", SPACE), "content", " "),
                Map.of("type", "ByteFallback"),
                Map.of("type", "Fuse"))));
        Map<String, Object> model = new LinkedHashMap<>();
        model.put("type", "BPE");
        model.put("dropout", null);
        model.put("unk_token", tokens.get(specialTokens.unk()));
        model.put("continuing_subword_prefix", null);
        model.put("end_of_word_suffix", null);
        model.put("fuse_unk", true);
        model.put("byte_fallback", true);
        model.put("ignore_merges", false);
        Map<String, Integer> vocab = new LinkedHashMap<>();
        for (int id = 0; id < tokens.size(); id++) {
            vocab.put(tokens.get(id), id);
        }
        model.put("vocab", vocab);
        model.put("merges", merges);
        root.put("model", model);
        return root;
    }

    private static Map<String, Object> ordered(Object... keyValues) {
        Map<String, Object> map = new LinkedHashMap<>();
        for (int i = 0; i < keyValues.length; i += 2) {
            map.put((String) keyValues[i], keyValues[i + 1]);
        }
        return map;
    }

    private static List<String> baseSymbols() {
        List<String> symbols = new ArrayList<>();
        symbols.add(SPACE);
        symbols.add("\n");
        for (char c = 33; c < 127; c++) {
            symbols.add(String.valueOf(c));
        }
        return List.copyOf(symbols);
    }

    /**
     * Classic BPE training on the corpus words (each word with and without its leading ▁, plus a
     * blank line): repeatedly merge the most frequent adjacent pair, ties broken by the pair's
     * text, until the budget is spent or no pair occurs twice. Deterministic.
     */
    private static List<String> learnMerges(int budget) {
        List<List<String>> words = new ArrayList<>();
        for (String word : MERGE_CORPUS.split(" ")) {
            words.add(symbolsOf(word));
            words.add(symbolsOf(SPACE + word));
        }
        words.add(new ArrayList<>(List.of("\n", "\n")));
        words.add(new ArrayList<>(List.of("\n", "\n")));
        List<String> learned = new ArrayList<>();
        Set<String> newTokens = new HashSet<>();
        while (newTokens.size() < budget) {
            Map<String, Integer> pairCounts = new HashMap<>();
            for (List<String> w : words) {
                for (int i = 0; i + 1 < w.size(); i++) {
                    pairCounts.merge(w.get(i) + " " + w.get(i + 1), 1, Integer::sum);
                }
            }
            String best = null;
            int bestCount = 1;
            for (Map.Entry<String, Integer> e : pairCounts.entrySet()) {
                int c = e.getValue();
                if (c > bestCount || (c == bestCount && best != null && e.getKey().compareTo(best) < 0)) {
                    best = e.getKey();
                    bestCount = c;
                }
            }
            if (best == null) {
                break;
            }
            learned.add(best);
            newTokens.add(best.replace(" ", ""));
            String left = best.substring(0, best.indexOf(' '));
            String right = best.substring(best.indexOf(' ') + 1);
            for (List<String> w : words) {
                for (int i = 0; i + 1 < w.size(); i++) {
                    if (w.get(i).equals(left) && w.get(i + 1).equals(right)) {
                        w.set(i, left + right);
                        w.remove(i + 1);
                    }
                }
            }
        }
        return learned;
    }

    private static List<String> symbolsOf(String word) {
        List<String> symbols = new ArrayList<>();
        word.codePoints().forEach(cp -> symbols.add(new String(Character.toChars(cp))));
        return symbols;
    }
}
