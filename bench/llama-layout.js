// The layout of a llama-shaped checkpoint, shared by the benchmark's model generator
// (bench/make-models.js, plain JavaScript run by node) and the test fixtures
// (tests/fixtures/make-model.ts): the state-dict tensors in HF LlamaForCausalLM order, the greedy
// split into shards, the shard file names and config.json. Plain JavaScript with no imports, so
// bench needs no build step and no test framework; types in llama-layout.d.ts.

/** [name, shape] in HF LlamaForCausalLM state-dict order; `tied` leaves out lm_head. */
export function llamaTensors(a, tied = false) {
  const hd = Math.floor(a.hidden / a.heads);
  const out = [["model.embed_tokens.weight", [a.vocab, a.hidden]]];
  for (let i = 0; i < a.layers; i++) {
    const p = `model.layers.${i}.`;
    out.push(
      [p + "self_attn.q_proj.weight", [a.heads * hd, a.hidden]],
      [p + "self_attn.k_proj.weight", [a.kvHeads * hd, a.hidden]],
      [p + "self_attn.v_proj.weight", [a.kvHeads * hd, a.hidden]],
      [p + "self_attn.o_proj.weight", [a.hidden, a.heads * hd]],
      [p + "mlp.gate_proj.weight", [a.intermediate, a.hidden]],
      [p + "mlp.up_proj.weight", [a.intermediate, a.hidden]],
      [p + "mlp.down_proj.weight", [a.hidden, a.intermediate]],
      [p + "input_layernorm.weight", [a.hidden]],
      [p + "post_attention_layernorm.weight", [a.hidden]],
    );
  }
  out.push(["model.norm.weight", [a.hidden]]);
  if (!tied) out.push(["lm_head.weight", [a.vocab, a.hidden]]);
  return out;
}

export function numel(shape) {
  return shape.reduce((x, y) => x * y, 1);
}

/**
 * Greedy split of tensors, in order, into shards of at most `limit` bytes (a tensor larger than
 * that gets a shard of its own), as make_models.py does; `limit` 0: one shard.
 */
export function planShards(tensors, bytesPerElement, limit) {
  const shards = [];
  let cur = [];
  let size = 0;
  for (const t of tensors) {
    const n = numel(t[1]) * bytesPerElement;
    if (cur.length && limit && size + n > limit) {
      shards.push(cur);
      cur = [];
      size = 0;
    }
    cur.push(t);
    size += n;
  }
  if (cur.length) shards.push(cur);
  return shards;
}

/** `model.safetensors`, or `model-0000i-of-0000N.safetensors` for shard i (0-based) of several. */
export function shardFileName(index, count) {
  return count === 1 ? "model.safetensors" : `model-${String(index + 1).padStart(5, "0")}-of-${String(count).padStart(5, "0")}.safetensors`;
}

/**
 * config.json of a llama model. `float` wraps the values Python writes as floats (rope_theta
 * 10000.0), for writers that keep the distinction; by default they are plain numbers.
 */
export function llamaConfig(a, torchDtype, tied = false, float = (v) => v) {
  return {
    architectures: ["LlamaForCausalLM"],
    attention_bias: false,
    attention_dropout: float(0),
    bos_token_id: 1,
    eos_token_id: 2,
    head_dim: Math.floor(a.hidden / a.heads),
    hidden_act: "silu",
    hidden_size: a.hidden,
    initializer_range: float(0.02),
    intermediate_size: a.intermediate,
    max_position_embeddings: 2048,
    mlp_bias: false,
    model_type: "llama",
    num_attention_heads: a.heads,
    num_hidden_layers: a.layers,
    num_key_value_heads: a.kvHeads,
    pretraining_tp: 1,
    rms_norm_eps: float(1e-5),
    rope_scaling: null,
    rope_theta: float(10000),
    tie_word_embeddings: tied,
    torch_dtype: torchDtype,
    transformers_version: "4.46.0",
    use_cache: true,
    vocab_size: a.vocab,
  };
}
