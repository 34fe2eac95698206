// AdamW (decoupled weight decay) with global gradient-norm clipping and linear warm-up, on
// plain Float32Arrays: LoRA's few million parameters update in milliseconds in JavaScript.

export interface AdamWOptions {
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  weightDecay: number;
  /** Clip the global gradient norm to this (0: no clipping). */
  maxGradNorm: number;
  /** Steps over which the learning rate ramps up linearly from lr / warmupSteps. */
  warmupSteps: number;
  /** With decaySteps > 0, after warm-up the rate follows a cosine down to minLearningRate at step decaySteps (pretraining). */
  decaySteps?: number;
  minLearningRate?: number;
}

export const defaultAdamW: AdamWOptions = {
  // LoRA wants about ten times a full fine-tune's rate (RL full fine-tunes use about 1e-6).
  learningRate: 1e-5,
  beta1: 0.9,
  beta2: 0.999,
  epsilon: 1e-8,
  weightDecay: 0.01,
  maxGradNorm: 1,
  warmupSteps: 0,
};

export class AdamW {
  private readonly m: Float32Array[];
  private readonly v: Float32Array[];
  /** Steps taken (skipped steps do not count). */
  step = 0;

  constructor(
    private readonly parameters: Float32Array[],
    readonly options: AdamWOptions,
  ) {
    this.m = parameters.map((p) => new Float32Array(p.length));
    this.v = parameters.map((p) => new Float32Array(p.length));
  }

  /** The learning rate the next step will use. */
  currentLearningRate(): number {
    const { learningRate, warmupSteps, decaySteps = 0, minLearningRate = 0 } = this.options;
    if (warmupSteps > 0 && this.step < warmupSteps) return (learningRate * (this.step + 1)) / warmupSteps;
    if (decaySteps <= warmupSteps) return learningRate;
    const progress = Math.min(1, (this.step - warmupSteps) / (decaySteps - warmupSteps));
    return minLearningRate + 0.5 * (learningRate - minLearningRate) * (1 + Math.cos(Math.PI * progress));
  }

  /** The moments, for a checkpoint to resume from. */
  get moments(): { m: Float32Array[]; v: Float32Array[] } {
    return { m: this.m, v: this.v };
  }

  /** Continues from a checkpoint's moments and step count. */
  restore(step: number, m: Float32Array[], v: Float32Array[]): void {
    if (m.length !== this.m.length || v.length !== this.v.length || m.some((t, k) => t.length !== this.m[k].length) || v.some((t, k) => t.length !== this.v[k].length)) {
      throw new RangeError('the optimizer state does not match the parameters');
    }
    m.forEach((t, k) => this.m[k].set(t));
    v.forEach((t, k) => this.v[k].set(t));
    this.step = step;
  }

  /** Applies one update in place; returns the gradient norm before clipping. */
  apply(grads: Float32Array[]): { gradNorm: number; learningRate: number } {
    const { beta1, beta2, epsilon, weightDecay, maxGradNorm } = this.options;
    const gradNorm = globalNorm(grads);
    const clip = maxGradNorm > 0 && gradNorm > maxGradNorm ? maxGradNorm / gradNorm : 1;
    const learningRate = this.currentLearningRate();
    this.step++;
    const correction1 = 1 - beta1 ** this.step;
    const correction2 = 1 - beta2 ** this.step;
    this.parameters.forEach((p, k) => {
      const g = grads[k];
      const m = this.m[k];
      const v = this.v[k];
      for (let i = 0; i < p.length; i++) {
        const grad = g[i] * clip;
        m[i] = beta1 * m[i] + (1 - beta1) * grad;
        v[i] = beta2 * v[i] + (1 - beta2) * grad * grad;
        const update = m[i] / correction1 / (Math.sqrt(v[i] / correction2) + epsilon);
        p[i] -= learningRate * (update + weightDecay * p[i]);
      }
    });
    return { gradNorm, learningRate };
  }
}

export function globalNorm(tensors: Float32Array[]): number {
  let sum = 0;
  for (const t of tensors) for (let i = 0; i < t.length; i++) sum += t[i] * t[i];
  return Math.sqrt(sum);
}
