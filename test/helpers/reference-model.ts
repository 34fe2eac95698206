// A plain float64 forward pass of the Llama/Qwen2 decoder, written from the architecture's
// definition with no ONNX and no shared code beyond reading the weights: the yardstick the
// ONNX graphs are checked against.

import { ModelConfig, readModelConfig } from '../../server/src/model/config';
import { LoraAdapter } from '../../server/src/model/lora';
import { ModelWeights } from '../../server/src/model/weights';

export class ReferenceModel {
  private readonly cache = new Map<string, Float64Array>();
  readonly config: ModelConfig;
  private readonly weights: ModelWeights;

  /** With an adapter, every linear layer adds scale · B·(A·x), as PEFT's LoRA does. */
  constructor(
    modelDir: string,
    private readonly adapter: LoraAdapter | null = null,
  ) {
    this.config = readModelConfig(modelDir);
    this.weights = ModelWeights.open(modelDir, this.config);
  }

  private w(name: string): Float64Array {
    let value = this.cache.get(name);
    if (!value) {
      value = Float64Array.from(this.weights.read(name));
      this.cache.set(name, value);
    }
    return value;
  }

  /** Logits after every position of `ids`: [position][vocab]. */
  logits(ids: number[]): Float64Array[] {
    const head = this.w(this.config.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight');
    return this.hidden(ids).map((h) => matVec(head, h, this.config.vocabSize));
  }

  /** The final (normed) hidden state after every position of `ids`: [position][hidden]. */
  hidden(ids: number[]): Float64Array[] {
    const c = this.config;
    const { hiddenSize: h, headDim: d, numHeads, numKvHeads } = c;
    const embed = this.w('model.embed_tokens.weight');
    let x: Float64Array[] = ids.map((id) => embed.slice(id * h, (id + 1) * h));
    for (let layer = 0; layer < c.numLayers; layer++) {
      const p = `model.layers.${layer}`;
      const normed = x.map((v) => this.rmsNorm(v, `${p}.input_layernorm.weight`));
      const q = normed.map((v, pos) => this.rope(this.linear(v, `${p}.self_attn.q_proj`, c.qkvBias), numHeads, pos));
      const k = normed.map((v, pos) => this.rope(this.linear(v, `${p}.self_attn.k_proj`, c.qkvBias), numKvHeads, pos));
      const v = normed.map((u) => this.linear(u, `${p}.self_attn.v_proj`, c.qkvBias));
      const attended = q.map((query, t) => {
        const out = new Float64Array(numHeads * d);
        for (let head = 0; head < numHeads; head++) {
          const kvHead = Math.floor(head / (numHeads / numKvHeads));
          const scores: number[] = [];
          for (let s = 0; s <= t; s++) {
            let dot = 0;
            for (let i = 0; i < d; i++) dot += query[head * d + i] * k[s][kvHead * d + i];
            scores.push(dot / Math.sqrt(d));
          }
          const max = Math.max(...scores);
          const weights = scores.map((s) => Math.exp(s - max));
          const total = weights.reduce((a, b) => a + b, 0);
          for (let s = 0; s <= t; s++) {
            for (let i = 0; i < d; i++) out[head * d + i] += (weights[s] / total) * v[s][kvHead * d + i];
          }
        }
        return out;
      });
      x = x.map((residual, t) => add(residual, this.linear(attended[t], `${p}.self_attn.o_proj`)));
      x = x.map((residual) => {
        const u = this.rmsNorm(residual, `${p}.post_attention_layernorm.weight`);
        const gate = this.linear(u, `${p}.mlp.gate_proj`);
        const up = this.linear(u, `${p}.mlp.up_proj`);
        const act = gate.map((g, i) => (g / (1 + Math.exp(-g))) * up[i]);
        return add(residual, this.linear(act, `${p}.mlp.down_proj`));
      });
    }
    return x.map((v) => this.rmsNorm(v, 'model.norm.weight'));
  }

  private linear(v: Float64Array, name: string, bias = false): Float64Array {
    const weight = this.w(`${name}.weight`);
    const out = matVec(weight, v, weight.length / v.length);
    const lora = this.adapter?.modules.get(name);
    if (lora) {
      const down = matVec(Float64Array.from(lora.a), v, this.adapter!.rank);
      const up = matVec(Float64Array.from(lora.b), down, out.length);
      for (let i = 0; i < out.length; i++) out[i] += this.adapter!.scale * up[i];
    }
    if (bias) {
      const b = this.w(`${name}.bias`);
      for (let i = 0; i < out.length; i++) out[i] += b[i];
    }
    return out;
  }

  private rmsNorm(v: Float64Array, name: string): Float64Array {
    const scale = this.w(name);
    const rms = Math.sqrt(v.reduce((s, x) => s + x * x, 0) / v.length + this.config.rmsNormEps);
    return v.map((x, i) => (x / rms) * scale[i]);
  }

  /** Rotary embedding in Hugging Face's rotate-half form: pairs (i, i + d/2) in each head. */
  private rope(v: Float64Array, heads: number, position: number): Float64Array {
    const d = this.config.headDim;
    const out = new Float64Array(v.length);
    for (let head = 0; head < heads; head++) {
      for (let i = 0; i < d / 2; i++) {
        const angle = position / this.config.ropeTheta ** ((2 * i) / d);
        const a = v[head * d + i];
        const b = v[head * d + i + d / 2];
        out[head * d + i] = a * Math.cos(angle) - b * Math.sin(angle);
        out[head * d + i + d / 2] = b * Math.cos(angle) + a * Math.sin(angle);
      }
    }
    return out;
  }
}

/** [rows, v.length] matrix (row-major) times v. */
function matVec(matrix: Float64Array, v: Float64Array, rows: number): Float64Array {
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let sum = 0;
    for (let i = 0; i < v.length; i++) sum += matrix[r * v.length + i] * v[i];
    out[r] = sum;
  }
  return out;
}

function add(a: Float64Array, b: Float64Array): Float64Array {
  return a.map((x, i) => x + b[i]);
}

export function logSoftmax(logits: Float64Array): Float64Array {
  const max = Math.max(...logits);
  const total = logits.reduce((s, x) => s + Math.exp(x - max), 0);
  return logits.map((x) => x - max - Math.log(total));
}

/**
 * The copy cache's mixture at every position of `ids`, written from its definition (Grave et al.
 * 2017): log[(1 − λ)·softmax(logits_t) + λ·Σ_{i<t} softmax_i(θ·h_t·h_i)·onehot(ids[i+1])], [position][vocab].
 */
export function copyMixtureLogprobs(model: ReferenceModel, ids: number[], theta: number, lambda: number): Float64Array[] {
  const hidden = model.hidden(ids);
  return model.logits(ids).map((logits, t) => {
    const p = logSoftmax(logits).map(Math.exp);
    if (t === 0) return p.map(Math.log);
    const scores = hidden.slice(0, t).map((h) => theta * h.reduce((s, x, k) => s + x * hidden[t][k], 0));
    const max = Math.max(...scores);
    const weights = scores.map((s) => Math.exp(s - max));
    const total = weights.reduce((a, b) => a + b, 0);
    const mixed = p.map((x) => (1 - lambda) * x);
    weights.forEach((w, i) => (mixed[ids[i + 1]] += (lambda * w) / total));
    return mixed.map(Math.log);
  });
}
