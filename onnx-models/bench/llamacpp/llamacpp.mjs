// llama.cpp through node-llama-cpp's prebuilt CPU binaries, for compare-llamacpp.sh ("bench") and for
// GgufForgeLlamaCppTest ("generate"). Both evaluate token ids directly: prompts are ids, so no
// tokenizer work is timed, and the forged vocabulary only has to load.
//
//   node llamacpp.mjs '{"mode": "generate", "model": FILE, "prompt_token_ids": [...], "max_new_tokens": 8, "threads": 2}'
//     -> {"generated_token_ids": [...], "n_vocab": ..., "train_context_size": ..., "metadata": {...}, ...}
//   node llamacpp.mjs '{"mode": "bench", "model": FILE, "prompt_length": 128, "decode_tokens": 32,
//                       "threads": 2, "runs": 1, "warmup": 1}'
//     -> {"runtime": "llama.cpp", "prompt_tokens": 128, "runs": [{"ttft_ms": ..., "decode_tokens_per_s": ...}], ...}
//   node llamacpp.mjs '{"mode": "concurrency", "model": FILE, "prompt_length": 32, "decode_tokens": 48,
//                       "threads": 2, "levels": [1, 2, 4, 8, 16]}'
//     -> {"levels": [{"concurrency": N, "decode_tokens_per_s": ..., "full_batch_tokens": ..., "end_to_end_tokens_per_s": ...}]}
//   N sequences of one context start at once (llama.cpp decodes them in one batch per step, as the
//   engine's DecodeBatch does); decode tokens/s counts the tokens all N produced between the moment
//   the last of them had its first token and the moment the first of them finished: the steps that
//   ran all N, as `bench --concurrency` reports them.
//
// Timings as the engine's `bench` defines them: prefill tokens/s = prompt tokens / time to first
// token; decode tokens/s over the tokens after the first. Greedy (temperature 0); end-of-sequence
// is not a stop here (the generator yields until we stop asking), so every run does the same work.
// Warm-ups use a 32-token prompt and 4 new tokens, as the engine's and bench.mjs's do.
import fs from 'node:fs';
import process from 'node:process';
import { getLlama, LlamaLogLevel, readGgufFileInfo } from 'node-llama-cpp';

// Prompt ids start past <pad> <eos> <bos> <unk>, the byte tokens and the turn markers.
const FIRST_ORDINARY_ID = 4 + 256 + 2;

function promptIds(length, nVocab, firstId) {
    // A fixed pseudo-random walk over ordinary ids (past the specials and byte tokens).
    const ids = [];
    let x = 12345;
    for (let i = 0; i < length; i++) {
        x = (x * 1103515245 + 12345) >>> 0;
        ids.push(firstId + (x % (nVocab - firstId)));
    }
    return ids;
}

async function once(context, prompt, newTokens, times = []) {
    const sequence = context.getSequence();
    try {
        const tokens = [];
        const t0 = process.hrtime.bigint();
        for await (const token of sequence.evaluate(prompt, { temperature: 0 })) {
            times.push(process.hrtime.bigint());
            tokens.push(token);
            if (tokens.length >= newTokens) break;
        }
        const ttft = Number(times[0] - t0) / 1e6;
        const decodeMs = Number(times[times.length - 1] - times[0]) / 1e6;
        return { tokens, ttft_ms: ttft, decode_tokens_per_s: times.length > 1 ? (times.length - 1) * 1000 / decodeMs : null };
    } finally {
        sequence.dispose();
    }
}

async function main() {
    const r = JSON.parse(process.argv[2] ?? fs.readFileSync(0, 'utf8'));
    const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error, maxThreads: r.threads ?? 0 });
    const t0 = process.hrtime.bigint();
    const model = await llama.loadModel({ modelPath: r.model });
    const loadMs = Number(process.hrtime.bigint() - t0) / 1e6;
    const info = model.fileInfo;
    const arch = info.metadata.general.architecture;
    const vocabSize = info.metadata.tokenizer.ggml.tokens.length;
    const base = {
        runtime: 'llama.cpp',
        node_llama_cpp_version: JSON.parse(fs.readFileSync(new URL('./node_modules/node-llama-cpp/package.json', import.meta.url))).version,
        llama_cpp_release: llama.llamaCppRelease?.release ?? null,
        cpu_math_cores: llama.cpuMathCores,
        load_ms: loadMs,
        file_type: info.metadata.general.file_type,
        architecture: arch,
        n_vocab: vocabSize,
        train_context_size: model.trainContextSize,
        block_count: info.architectureMetadata.block_count,
        embedding_length: info.architectureMetadata.embedding_length,
        model_size_bytes: model.size,
    };

    if (r.mode === 'generate') {
        const context = await model.createContext({ contextSize: r.context_size ?? 256, threads: r.threads ?? 0, sequences: 1 });
        const out = await once(context, r.prompt_token_ids, r.max_new_tokens);
        await context.dispose();
        // node-llama-cpp's own GGUF reader, independent of llama.cpp's loader: names and types as written.
        const parsed = await readGgufFileInfo(r.model, { readTensorInfo: true });
        process.stdout.write(JSON.stringify({
            ...base,
            generated_token_ids: out.tokens,
            tensors: parsed.tensorInfo.map((t) => ({ name: t.name, dims: t.dimensions.map(Number), ggml_type: t.ggmlType })),
        }) + '\n');
    } else if (r.mode === 'bench') {
        const firstId = FIRST_ORDINARY_ID;
        const prompt = promptIds(r.prompt_length, vocabSize - 3, firstId);
        const decode = r.decode_tokens ?? 32;
        const context = await model.createContext({
            contextSize: Math.max(256, r.prompt_length + decode + 64), threads: r.threads ?? 0, sequences: 1,
        });
        for (let i = 0; i < (r.warmup ?? 1); i++) await once(context, prompt.slice(0, 32), 4);
        const runs = [];
        for (let i = 0; i < (r.runs ?? 1); i++) {
            const { ttft_ms, decode_tokens_per_s } = await once(context, prompt, decode);
            runs.push({ ttft_ms, decode_tokens_per_s });
        }
        process.stdout.write(JSON.stringify({
            ...base, prompt_tokens: prompt.length, context_size: context.contextSize, batch_size: context.batchSize,
            flash_attention: context.flashAttention, threads: context.currentThreads, runs,
        }) + '\n');
        await context.dispose();
    } else if (r.mode === 'concurrency') {
        const firstId = FIRST_ORDINARY_ID;
        const decode = r.decode_tokens ?? 48;
        const levels = [];
        for (const n of r.levels ?? [1, 2, 4, 8]) {
            const context = await model.createContext({
                contextSize: r.prompt_length + decode + 64, threads: r.threads ?? 0, sequences: n,
            });
            await once(context, promptIds(32, vocabSize - 3, firstId), 4);
            // Each sequence its own prompt (the same walk, shifted by i tokens), all started together.
            const prompts = Array.from({ length: n }, (_, i) => promptIds(r.prompt_length + i, vocabSize - 3, firstId).slice(i));
            const stamps = prompts.map(() => []);
            const t0 = process.hrtime.bigint();
            await Promise.all(prompts.map((p, i) => once(context, p, decode, stamps[i])));
            const wall = Number(process.hrtime.bigint() - t0) / 1e9;
            const from = stamps.map((t) => t[0]).reduce((a, b) => (a > b ? a : b));
            const to = stamps.map((t) => t[t.length - 1]).reduce((a, b) => (a < b ? a : b));
            const inWindow = stamps.reduce((sum, t) => sum + t.filter((x) => x > from && x <= to).length, 0);
            const windowS = Number(to - from) / 1e9;
            levels.push({
                concurrency: n,
                prompt_tokens: r.prompt_length,
                decode_tokens_per_s: windowS > 0 ? inWindow / windowS : null,
                full_batch_tokens: inWindow,
                end_to_end_tokens_per_s: stamps.reduce((sum, t) => sum + t.length, 0) / wall,
                ttft_ms_p50: stamps.map((t) => Number(t[0] - t0) / 1e6).sort((a, b) => a - b)[Math.floor((n - 1) / 2)],
            });
            await context.dispose();
        }
        process.stdout.write(JSON.stringify({ ...base, threads: r.threads ?? 0, levels }) + '\n');
    } else {
        throw new Error(`unknown mode ${r.mode}`);
    }
    await model.dispose();
    await llama.dispose();
}

main().catch((e) => {
    process.stderr.write(`llamacpp.mjs: ${e?.stack ?? e}\n`);
    process.exit(1);
});
