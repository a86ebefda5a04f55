// transformers.js side of onnx-models/bench/compare.sh: the same timings as the engine's `bench`
// command (prefill tokens/s = prompt tokens / time to first token, decode tokens/s over the tokens
// after the first), on the same model directory, dtype and intra-op thread count.
//
// Usage: node bench.mjs '{"model_dir": DIR, "dtype": "q4", "threads": 2, "prompt_length": 128,
//                        "decode_tokens": 32, "runs": 1, "warmup": 1}'
// Warm-up runs use a 32-token prompt and 4 new tokens (as the engine's do): they load the weights
// into memory and start the threads without costing a full-length run.
import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { env, AutoTokenizer, AutoModelForCausalLM, Tensor } from '@huggingface/transformers';

env.allowRemoteModels = false;
env.allowLocalModels = true;
env.useFSCache = false;
env.useBrowserCache = false;

const FILLER = 'Patient is a 67-year-old man admitted with community-acquired pneumonia. '
    + 'Vitals stable on 2 L oxygen by nasal cannula; creatinine 1.2 mg/dL, white cell count 14.2. '
    + 'Started on ceftriaxone and azithromycin; blood cultures pending; no known drug allergies. ';

function ids(list) {
    return new Tensor('int64', BigInt64Array.from(list.map((x) => BigInt(x))), [1, list.length]);
}

// Records when generate() hands over the prompt, then each new token: duck-typed BaseStreamer.
class Clock {
    constructor() { this.times = []; }
    put() { this.times.push(process.hrtime.bigint()); }
    end() {}
}

async function once(model, prompt, newTokens) {
    const clock = new Clock();
    const t0 = process.hrtime.bigint();
    await model.generate({
        input_ids: ids(prompt),
        attention_mask: ids(prompt.map(() => 1)),
        max_new_tokens: newTokens,
        min_new_tokens: newTokens, // a fixed amount of work: random weights emit eos at random
        do_sample: false,
        streamer: clock,
    });
    // times[0]: the prompt, times[1]: first new token, last: final token.
    const first = clock.times[1];
    const last = clock.times[clock.times.length - 1];
    const ttft = Number(first - t0) / 1e6;
    const decodeMs = Number(last - first) / 1e6;
    return { ttft_ms: ttft, decode_tokens_per_s: (clock.times.length - 2) * 1000 / decodeMs };
}

async function main() {
    const r = JSON.parse(process.argv[2] ?? fs.readFileSync(0, 'utf8'));
    const modelDir = path.resolve(r.model_dir);
    const tokenizer = await AutoTokenizer.from_pretrained(modelDir);
    const text = tokenizer.apply_chat_template([{ role: 'user', content: FILLER.repeat(Math.ceil(r.prompt_length / 8)) }],
        { tokenize: false, add_generation_prompt: true });
    const source = Array.from(tokenizer(text, { add_special_tokens: false }).input_ids.data, Number);
    if (source.length < r.prompt_length) throw new Error(`filler gave ${source.length} tokens < ${r.prompt_length}`);
    const prompt = source.slice(0, r.prompt_length);

    const sessionOptions = {};
    if (r.threads > 0) sessionOptions.intraOpNumThreads = r.threads;
    const t0 = process.hrtime.bigint();
    const model = await AutoModelForCausalLM.from_pretrained(modelDir, {
        dtype: r.dtype ?? 'q4', device: 'cpu', use_external_data_format: true, session_options: sessionOptions,
    });
    const loadMs = Number(process.hrtime.bigint() - t0) / 1e6;
    for (let i = 0; i < (r.warmup ?? 1); i++) await once(model, source.slice(0, 32), 4);
    const runs = [];
    for (let i = 0; i < (r.runs ?? 1); i++) runs.push(await once(model, prompt, r.decode_tokens ?? 32));
    await model.dispose();
    process.stdout.write(JSON.stringify({
        runtime: 'transformers.js', transformers_js_version: env.version,
        onnxruntime_node_version: env.backends?.onnx?.versions?.node ?? null,
        prompt_tokens: prompt.length, load_ms: loadMs, runs,
    }) + '\n');
}

main().catch((e) => {
    process.stderr.write(`bench.mjs: ${e?.stack ?? e}\n`);
    process.exit(1);
});
