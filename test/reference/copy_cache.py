"""The copy cache's log-probabilities computed in PyTorch, independently of the project's ONNX
graphs: a Llama/Qwen2 forward pass and the continuous cache of Grave, Joulin, Usunier (2017),
after ../shared/tools/cache-probe/probe.py (biases and untied output layers added).

    /usr/bin/python3 copy_cache.py MODEL_DIR THETA LAMBDA < sequences.jsonl

Each input line is a JSON list of token ids; each output line the log-probability, under
p = (1 - lambda) * p_model + lambda * sum_{i<t} softmax_i(theta * h_t . h_i) [x_{i+1}],
of every token after the first (position t predicts token t + 1). Debian's python3-torch."""
import json, math, struct, sys

import torch


def read_safetensors(path):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, m in header.items():
        if name == '__metadata__':
            continue
        a, b = m['data_offsets']
        raw = bytearray(data[a:b])
        if m['dtype'] == 'F32':
            t = torch.frombuffer(raw, dtype=torch.float32)
        elif m['dtype'] == 'F16':
            t = torch.frombuffer(raw, dtype=torch.float16).float()
        else:
            raise ValueError(f'unsupported dtype {m["dtype"]} for {name}')
        out[name] = t.reshape(m['shape']).double()
    return out


def rms(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


model_dir, theta, lam = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
cfg = json.load(open(model_dir + '/config.json'))
W = read_safetensors(model_dir + '/model.safetensors')


def forward(ids):
    """Final normed hidden states [T, H] and next-token log-probabilities [T, V]."""
    H, nh, nkv = cfg['hidden_size'], cfg['num_attention_heads'], cfg.get('num_key_value_heads', cfg['num_attention_heads'])
    hd = cfg.get('head_dim') or H // nh
    eps = cfg['rms_norm_eps']
    rope_theta = cfg.get('rope_theta', 10000.0)
    T = len(ids)
    x = W['model.embed_tokens.weight'][torch.tensor(ids)]
    inv = 1.0 / (rope_theta ** (torch.arange(0, hd, 2).double() / hd))
    f = torch.outer(torch.arange(T).double(), inv)
    emb = torch.cat([f, f], -1)
    cos, sin = emb.cos(), emb.sin()
    rot = lambda q: torch.cat([-q[..., hd // 2:], q[..., :hd // 2]], -1)
    mask = torch.full((T, T), float('-inf'), dtype=torch.float64).triu(1)

    def lin(h, n):
        y = h @ W[n + '.weight'].T
        return y + W[n + '.bias'] if n + '.bias' in W else y

    for i in range(cfg['num_hidden_layers']):
        p = f'model.layers.{i}.'
        h = rms(x, W[p + 'input_layernorm.weight'], eps)
        q = lin(h, p + 'self_attn.q_proj').view(T, nh, hd).transpose(0, 1)
        k = lin(h, p + 'self_attn.k_proj').view(T, nkv, hd).transpose(0, 1)
        v = lin(h, p + 'self_attn.v_proj').view(T, nkv, hd).transpose(0, 1)
        q, k = q * cos + rot(q) * sin, k * cos + rot(k) * sin
        k = k.repeat_interleave(nh // nkv, 0)
        v = v.repeat_interleave(nh // nkv, 0)
        a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd) + mask, -1) @ v
        x = x + lin(a.transpose(0, 1).reshape(T, nh * hd), p + 'self_attn.o_proj')
        h = rms(x, W[p + 'post_attention_layernorm.weight'], eps)
        x = x + lin(torch.nn.functional.silu(lin(h, p + 'mlp.gate_proj')) * lin(h, p + 'mlp.up_proj'), p + 'mlp.down_proj')
    x = rms(x, W['model.norm.weight'], eps)
    head = W['model.embed_tokens.weight'] if cfg.get('tie_word_embeddings') else W['lm_head.weight']
    return x, torch.log_softmax(x @ head.T, -1)


V = cfg['vocab_size']
with torch.no_grad():
    for line in sys.stdin:
        ids = json.loads(line)
        h, lp = forward(ids)
        out = []
        for t in range(len(ids) - 1):
            p = lp[t].exp()
            if t > 0:
                w = torch.softmax(theta * (h[:t] @ h[t]), -1)
                pc = torch.zeros(V, dtype=torch.float64).index_add_(0, torch.tensor(ids[1:t + 1]), w)
                p = (1 - lam) * p + lam * pc
            out.append(math.log(p[ids[t + 1]].item()))
        print(json.dumps(out), flush=True)
