// Independent reference for the Java engine: transformers.js (the library path users run in
// browsers and Node) loads a model directory and decodes greedily, so the engine's token ids can
// be compared one for one. It also renders the chat template and tokenizes, so prompt building
// can be compared separately from decoding.
//
// Usage: node reference.mjs REQUEST.json   (or the request JSON on stdin)
// Request fields (all optional except model_dir):
//   model_dir          forged or real model directory (layout A: model_type gemma3, B: gemma3_text)
//   dtype              fp32 (default) | q4 | ... : selects onnx/*{_suffix}.onnx
//   messages           chat messages ({role, content: string | [{type:text,text}|{type:image}]})
//                      -> prompt_text_via_chat_template and prompt_token_ids_via_chat_template
//   prompt_token_ids   ids to decode from; default: the chat template's ids
//   images             image file paths, one per {type:image} / <start_of_image> in the prompt
//   max_new_tokens     default 16
//   generate           default true; false only renders and tokenizes
//   tokenize_texts     strings to tokenize without special tokens -> tokenized_texts
//   decode_token_ids   ids to decode -> decoded_text
// Prints one JSON object on stdout; errors go to stderr with exit code 1.
import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import {
    env,
    AutoConfig,
    AutoTokenizer,
    AutoProcessor,
    AutoModelForCausalLM,
    Gemma3ForConditionalGeneration,
    RawImage,
    Tensor,
} from '@huggingface/transformers';

// Local files only: the reference never reaches the network and never caches copies.
env.allowRemoteModels = false;
env.allowLocalModels = true;
env.useFSCache = false;
env.useBrowserCache = false;

async function readRequest() {
    const file = process.argv[2];
    if (file) return JSON.parse(fs.readFileSync(file, 'utf8'));
    const chunks = [];
    for await (const chunk of process.stdin) chunks.push(chunk);
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

function toIdTensor(ids) {
    return new Tensor('int64', BigInt64Array.from(ids.map((x) => BigInt(x))), [1, ids.length]);
}

function idsOf(tensor) {
    return Array.from(tensor.data, (x) => Number(x));
}

function hasExternalData(dir) {
    const onnxDir = path.join(dir, 'onnx');
    return fs.existsSync(onnxDir) && fs.readdirSync(onnxDir).some((f) => f.endsWith('.onnx_data'));
}

async function main() {
    const request = await readRequest();
    const modelDir = path.resolve(request.model_dir);
    const dtype = request.dtype ?? 'fp32';
    const maxNewTokens = request.max_new_tokens ?? 16;
    const images = request.images ?? [];

    const config = await AutoConfig.from_pretrained(modelDir);
    const imageText = config.model_type === 'gemma3';
    // Gemma3Processor expands <start_of_image> to the image token run; text-only models have no processor.
    const processor = imageText ? await AutoProcessor.from_pretrained(modelDir) : null;
    const tokenizer = processor ? processor.tokenizer : await AutoTokenizer.from_pretrained(modelDir);

    const out = {
        transformers_js_version: env.version,
        onnxruntime_node_version: env.backends?.onnx?.versions?.node ?? null,
        model_type: config.model_type,
        dtype,
    };

    if (request.messages) {
        const text = tokenizer.apply_chat_template(request.messages, { tokenize: false, add_generation_prompt: true });
        out.prompt_text_via_chat_template = text;
        if (processor && images.length > 0) {
            // The processor's own expansion, tokenized without a second <bos> (MEDGEMMA_ONNX.md).
            const loaded = await Promise.all(images.map((p) => RawImage.read(p)));
            const inputs = await processor(text, loaded, { add_special_tokens: false });
            out.prompt_token_ids_via_chat_template = idsOf(inputs.input_ids);
        } else {
            out.prompt_token_ids_via_chat_template = idsOf(tokenizer(text, { add_special_tokens: false }).input_ids);
        }
    }
    if (request.tokenize_texts) {
        out.tokenized_texts = request.tokenize_texts.map((t) => idsOf(tokenizer(t, { add_special_tokens: false }).input_ids));
    }
    if (request.decode_token_ids) {
        out.decoded_text = tokenizer.decode(request.decode_token_ids, { skip_special_tokens: false });
    }

    if (request.generate === false) {
        process.stdout.write(JSON.stringify(out) + '\n');
        return;
    }

    const promptIds = request.prompt_token_ids ?? out.prompt_token_ids_via_chat_template;
    if (!promptIds || promptIds.length === 0) {
        throw new Error('nothing to decode: give prompt_token_ids or messages');
    }
    out.prompt_token_ids = promptIds;

    const modelOptions = { dtype, device: 'cpu' };
    if (hasExternalData(modelDir)) modelOptions.use_external_data_format = true;
    const model = imageText
        ? await Gemma3ForConditionalGeneration.from_pretrained(modelDir, modelOptions)
        : await AutoModelForCausalLM.from_pretrained(modelDir, modelOptions);

    const inputs = {
        input_ids: toIdTensor(promptIds),
        attention_mask: toIdTensor(promptIds.map(() => 1)),
    };
    if (images.length > 0) {
        if (!processor) throw new Error('images given for a text-only model');
        const loaded = await Promise.all(images.map((p) => RawImage.read(p)));
        const pixels = await processor.image_processor(loaded);
        inputs.pixel_values = pixels.pixel_values;
    }

    const sequences = await model.generate({
        ...inputs,
        max_new_tokens: maxNewTokens,
        do_sample: false,
        num_beams: 1,
        repetition_penalty: 1.0,
    });
    const all = idsOf(sequences);
    out.generated_token_ids = all.slice(promptIds.length);
    out.generated_text = tokenizer.decode(out.generated_token_ids, { skip_special_tokens: false });
    await model.dispose();
    process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e) => {
    process.stderr.write(`reference.mjs: ${e?.stack ?? e}\n`);
    process.exit(1);
});
