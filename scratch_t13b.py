import numpy as np, torch
from torch import nn
import torch.nn.functional as F
from netparity.backends.torch.importer import import_module, predict, to_canonical_input, ImportRefused
from netparity.backends import get_backend
from netparity.spec.recipe import Recipe
torch.manual_seed(0)

def check(m, shape, x):
    imp = import_module(m, shape)
    print([type(l).__name__ for l in imp.spec.layers], imp.input_layout)
    ref = predict(m, x)
    model = get_backend("numpy").build(imp.spec, imp.params, Recipe(), dtype="float64", device="cpu")
    out = model.forward(model.stage(to_canonical_input(x, imp.input_layout)))
    print("  rel", np.abs(out-ref).max()/np.abs(ref).max())

class Block(nn.Module):
    def __init__(s, d): super().__init__(); s.ln=nn.LayerNorm(d); s.fc=nn.Linear(d,d)
    def forward(s, x): return x + s.fc(F.relu(s.ln(x)))

class Seq(nn.Module):
    def __init__(s):
        super().__init__()
        s.emb=nn.Embedding(20,8); s.lstm=nn.LSTM(8,16,batch_first=True); s.attn=nn.MultiheadAttention(16,4,batch_first=True)
        s.register_buffer("mask", torch.triu(torch.ones(6,6,dtype=torch.bool),1))
        s.head=nn.Linear(16,3)
    def forward(s, x):
        h,_ = s.lstm(s.emb(x))
        h = h + s.attn(h,h,h,attn_mask=s.mask, need_weights=False)[0]
        return F.log_softmax(s.head(h[:, -1]), dim=-1) if False else s.head(h[:, -1])

class Seq2(nn.Module):
    def __init__(s):
        super().__init__(); s.lstm=nn.LSTM(5,7,batch_first=True); s.fc=nn.Linear(7,2)
    def forward(s,x):
        _, (h, c) = s.lstm(x)
        return s.fc(h[-1])

rng=np.random.default_rng(0)
check(nn.Sequential(nn.Linear(4,8), nn.Tanh(), Block(8), nn.Dropout(0.2), nn.BatchNorm1d(8), nn.Linear(8,2), nn.Softmax(dim=-1)), (4,), rng.normal(size=(5,4)))
check(Seq(), (6,), rng.integers(0,20,(5,6)))
check(Seq2(), (6,5), rng.normal(size=(5,6,5)))
check(nn.Sequential(nn.Conv2d(3,4,3,padding=1,stride=2), nn.AvgPool2d(2), nn.Flatten(), nn.BatchNorm1d(4*4*4), nn.Linear(64,3)), (3,15,15), rng.normal(size=(5,3,15,15)))
for bad in [nn.Sequential(nn.Conv2d(3,4,3,groups=1,dilation=2)), nn.Sequential(nn.GELU()), nn.Sequential(nn.LSTM(3,4)), nn.Sequential(nn.Linear(4,4), nn.PReLU())]:
    try: import_module(bad, (3,8,8)); print("NOT REFUSED", bad)
    except ImportRefused as e: print("refused:", e)
class Branch(nn.Module):
    def __init__(s): super().__init__(); s.a=nn.Linear(4,4); s.b=nn.Linear(4,4)
    def forward(s,x): return s.a(x)+s.b(x)
try: import_module(Branch(), (4,))
except ImportRefused as e: print("refused:", e)
class Dyn(nn.Module):
    def __init__(s): super().__init__(); s.a=nn.Linear(4,4)
    def forward(s,x):
        if x.sum() > 0: return s.a(x)
        return x
try: import_module(Dyn(), (4,))
except ImportRefused as e: print("refused:", e)
