"""The fast decoder: the same numbers as ``query.query_reference``, with less work.

Where the reference spends its time (cProfile/torch.profiler on a 128->512 render): the 580-wide
first layer (43 % of the multiply-adds), building the (Q, 580) inputs, and running each layer
over 65 k-row activations that do not fit in cache, so ReLU and bias passes go to main memory
and the matrix products run at about a third of the CPU's peak. The fast path:

1. The first MLP layer is linear in [unfolded feature, rel. coordinate, cell]. Its feature part
   depends only on which latent code is looked up, so it is computed once per latent code, as a
   3x3 convolution of the feature map (``first_layer_map``), and each query only gathers a row.
2. The nearest lookup is index arithmetic (the same float32 steps as ``grid_sample``), so no
   (Q, 576) input is ever built.
3. The four ensemble queries of a pixel go through the MLP together, in chunks of about a
   thousand rows whose activations stay in the CPU's cache; each product writes into one of two
   reused buffers and ReLU runs in place (small products run near the CPU's peak; 65 k-row ones
   at a third of it). The 256->3 last layer uses the weight's transposed view (a 4x faster kernel).
4. On the CPU each thread decodes whole chunks with single-threaded kernels, taking the next free
   chunk, so threads never wait for each other (that waiting made the split-every-product
   version 2-4x slower whenever other programs shared the cores). The calling thread decodes
   chunks too, so a render never waits for helper threads busy with another render (a viewer's
   live view and a Run), and the helpers run at the caller's CPU priority (one pool per priority).
5. `stop()` (optional) is called before every chunk; raising from it stops the decode after the
   chunks already under way (one per thread, a few ms each): a viewer's stale view stops at once.

The feature map may be a window of a larger image (``offset``), which is how tiles are rendered.
"""

import functools
import threading
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

# Pixels per MLP chunk on the CPU (x4 ensemble rows): 256 pixels make a 1024x256 float32
# activation (1 MB, two of them per thread) that stays near the core's 512 KB L2 even when other
# programs share the cores. Measured on a 2-core AVX2 AMD EPYC under load, whole 128->512 renders
# side by side (median of 3, two runs): 256 px 1.20-1.28x faster than 1024 px, 512 px 1.05x,
# 128 px 1.13x (per-chunk overhead). GPUs prefer big launches.
CPU_CHUNK = 256
GPU_CHUNK = 1 << 16
PARALLEL_CHUNKS = True  # CPU: threads take whole chunks (see _run_parallel)
_THREADS_LOCK = threading.Lock()


@torch.inference_mode()
def first_layer_map(net, feat, memory_format=torch.contiguous_format):
    """Feature part of the first MLP layer, plus its bias, for every latent code: (B, H, W, hidden).

    With memory_format=channels_last the convolution writes (B, H, W, hidden) directly (no copy).
    """
    first = net.imnet.layers[0]
    feat = feat.contiguous(memory_format=memory_format)
    C = feat.shape[1]
    n_feat = C * 9 if net.feat_unfold else C
    w = first.weight[:, :n_feat]
    if net.feat_unfold:
        pre = F.conv2d(feat, w.reshape(-1, C, 3, 3), first.bias, padding=1)
    else:
        pre = F.conv2d(feat, w.reshape(-1, C, 1, 1), first.bias)
    return pre.permute(0, 2, 3, 1).contiguous()


def nearest_index(c, n):
    """Index of the nearest of n cells for normalized coordinates c (grid_sample's arithmetic)."""
    return torch.round((c + 1) * (n / 2) - 0.5).long().clamp_(0, n - 1)


def ensemble_lookups(net, coord, full_shape):
    """Latent indices and relative coordinates of every ensemble query.

    Returns iy, ix (S, B, Q) and rel (S, B, Q, 2), S = 4 with the local ensemble, else 1.
    """
    H, W = full_shape
    if net.local_ensemble:
        shifts, eps = [(-1, -1), (-1, 1), (1, -1), (1, 1)], 1e-6
    else:
        shifts, eps = [(0, 0)], 0.0
    iys, ixs, rels = [], [], []
    for sy, sx in shifts:
        cy = (coord[..., 0] + (sy / H + eps)).clamp(-1 + 1e-6, 1 - 1e-6)
        cx = (coord[..., 1] + (sx / W + eps)).clamp(-1 + 1e-6, 1 - 1e-6)
        iy = nearest_index(cy, H)
        ix = nearest_index(cx, W)
        # Latent centre in float32 exactly as coords.axis_centres computes it.
        centre_y = -1 + 1 / H + (2 / H) * iy.to(coord.dtype)
        centre_x = -1 + 1 / W + (2 / W) * ix.to(coord.dtype)
        iys.append(iy)
        ixs.append(ix)
        rels.append(torch.stack(((coord[..., 0] - centre_y) * H, (coord[..., 1] - centre_x) * W), dim=-1))
    return torch.stack(iys), torch.stack(ixs), torch.stack(rels)


def ensemble_weights(rel, local_ensemble):
    """Blend weights (S, B, Q): each prediction weighs the area opposite to its latent code."""
    areas = torch.abs(rel[..., 0] * rel[..., 1]) + 1e-9
    total = areas.sum(dim=0)  # same left-to-right sum as the reference's stack().sum()
    if local_ensemble:
        areas = areas.flip(0)
    return areas / total


# Output widths up to this run as x @ W^T with W kept (out, in): MKL's kernel for a row-major
# (256, 3) right operand is ~4x slower than for its transposed view (measured on AVX2 EPYC:
# the 256->3 layer took 7-8 % of a chunk, 2 % after).
NARROW_OUT = 16


class _Decoder:
    """The MLP after its first layer, as (right operand, bias) pairs run into two reused buffers."""

    def __init__(self, net, dtype, device):
        layers = list(net.imnet.layers)
        first = layers[0]
        n_pos = first.weight.shape[1] - (4 if net.cell_decode else 2)
        # Rows of the first layer's weight for [rel_y, rel_x(, cell_y, cell_x)].
        self.w_pos = first.weight[:, n_pos:].T.to(dtype).contiguous()
        self.steps = []
        for layer in layers[1:]:
            if isinstance(layer, torch.nn.Linear):
                w = layer.weight.to(dtype)
                right = w.T if w.shape[0] <= NARROW_OUT else w.T.contiguous()
                self.steps.append((right, layer.bias.to(dtype)))
            elif isinstance(layer, torch.nn.ReLU):
                self.steps.append("relu")
            else:
                raise ValueError(f"the fast decoder supports Linear and ReLU layers only, not {type(layer).__name__}")
        self.widths = [s[0].shape[1] for s in self.steps if s != "relu"]

    def __call__(self, x, spare):
        """x: (n, hidden) first-layer pre-activations, modified in place; `spare` a buffer at least
        as big, overwritten. Every product writes into the buffer it does not read (no allocation)."""
        for step in self.steps:
            if step == "relu":
                x.relu_()
            else:
                right, b = step
                out = spare.view(-1)[: x.shape[0] * right.shape[1]].view(x.shape[0], right.shape[1])
                torch.addmm(b, x, right, out=out)
                spare = x
                x = out
        return x


@torch.inference_mode()
def query_fast(net, pre, coord, cell, full_shape, offset=(0, 0), chunk=None, stop=None):
    """Decode values at `coord` (B, Q, 2) given `pre` = first_layer_map of a feature window.

    `full_shape` is the (H, W) of the whole latent grid; `offset` is where the window starts in it.
    Every queried latent code must lie inside the window. Returns (B, Q, out_dim). `stop()` is
    called before every chunk; raising from it stops the decode (see above).
    """
    n_threads = torch.get_num_threads()
    if pre.device.type != "cpu" or n_threads < 2 or not PARALLEL_CHUNKS or not _single_thread_kernels_available():
        return _query(net, pre, coord, cell, full_shape, offset, chunk, 1, stop)
    # Every kernel single-threaded, the chunks spread over the caller and helper threads (see _run_parallel).
    return _query(net, pre, coord, cell, full_shape, offset, chunk, n_threads, stop)


def _query(net, pre, coord, cell, full_shape, offset, chunk, n_threads, stop=None):
    B, h, w, hidden = pre.shape
    H, W = full_shape
    Q = coord.shape[1]
    dec = _Decoder(net, pre.dtype, pre.device)

    iy, ix, rel = ensemble_lookups(net, coord, full_shape)
    S = iy.shape[0]
    weights = ensemble_weights(rel, net.local_ensemble)  # (S, B, Q)
    batch_base = (torch.arange(B, device=pre.device) * (h * w)).view(1, B, 1)
    rows = (iy - offset[0]) * w + (ix - offset[1]) + batch_base  # (S, B, Q)
    pos = rel
    if net.cell_decode:
        rel_cell = cell * torch.tensor([H, W], dtype=cell.dtype, device=cell.device)
        pos = torch.cat((rel, rel_cell.unsqueeze(0).expand(S, -1, -1, -1)), dim=-1)

    # Pixel-major order, so one chunk holds all S ensemble rows of its pixels. The lookups were
    # done in the coordinates' precision; only the MLP's inputs take the weights' dtype.
    rows = rows.reshape(S, B * Q).T.contiguous()  # (BQ, S)
    pos = pos.reshape(S, B * Q, -1).transpose(0, 1).to(pre.dtype).contiguous()  # (BQ, S, P)
    weights = weights.reshape(S, B * Q).T.contiguous()  # (BQ, S)
    flat = pre.view(B * h * w, hidden)
    n = B * Q
    if chunk is None:
        chunk = CPU_CHUNK if pre.device.type == "cpu" else GPU_CHUNK
    # The blend and the output stay float32 whatever the MLP's dtype (a bf16 output alone would
    # round values by up to 1/512).
    out = torch.empty((n, dec.steps[-1][1].shape[0]), dtype=torch.float32, device=pre.device)
    starts = list(range(0, n, chunk))

    @torch.inference_mode()  # thread-local: worker threads need it too
    def run(next_start):
        size = min(chunk, n) * S * max(hidden, *dec.widths)
        buf = torch.empty(size, dtype=pre.dtype, device=pre.device)
        spare = torch.empty(size, dtype=pre.dtype, device=pre.device)
        while (a := next_start()) is not None:
            b = min(a + chunk, n)
            m = (b - a) * S
            x = buf[: m * hidden].view(m, hidden)
            torch.index_select(flat, 0, rows[a:b].view(-1), out=x)
            x.addmm_(pos[a:b].view(m, -1), dec.w_pos)
            pred = dec(x, spare).view(b - a, S, -1).float()
            # Blend in the reference's order (sum over ensemble members, first to last).
            acc = pred[:, 0] * weights[a:b, 0:1]
            for s in range(1, S):
                acc = acc + pred[:, s] * weights[a:b, s : s + 1]
            out[a:b] = acc

    next_start = _dealer(starts, stop)
    if n_threads < 2 or len(starts) < 2:
        run(next_start)
    else:
        _run_parallel(run, next_start, n_threads)
    return out.view(B, Q, -1)


def _dealer(starts, stop=None):
    """A thread-safe 'next chunk, or None': threads take chunks as they become free. `stop()` is
    called first each time; what it raises ends the thread that asked (and, raised again, the others)."""
    it = iter(starts)
    lock = threading.Lock()

    def next_start():
        if stop is not None:
            stop()
        with lock:
            return next(it, None)

    return next_start


def _run_parallel(run, next_start, n_threads):
    """The calling thread and n - 1 helper threads decode whole chunks with single-threaded kernels,
    each taking the next free chunk.

    Splitting every small matrix product over threads makes the threads meet after each of the
    ~10 kernels of a chunk; when the cores are shared with other work, a descheduled thread stalls
    the others at every meeting (measured: 2-4x slower under load). Whole chunks per thread never
    wait, and dealing them out one at a time (not a fixed half each) lets a thread that got more
    CPU take more chunks. The helpers are this module's own threads, each set to one OpenMP thread
    for its own kernels (a per-thread setting); the caller's own setting is restored afterwards.

    The caller decodes too, so a render never waits for helpers that another render keeps busy:
    helper tasks that have not started when the chunks run out are dropped, not waited for. Helpers
    come from a pool of the caller's CPU priority (a niced live-view thread never lends its priority
    to a Run's decode, and a Run's helpers never outrank the live view's).
    """
    pool = _pool(n_threads - 1, _priority())
    futures = [pool.submit(run, next_start) for _ in range(n_threads - 1)]
    error = None
    try:
        with _one_thread_kernels_here():
            run(next_start)
    except BaseException as e:  # Cancelled from stop(), or an error: the helpers stop at their next chunk
        error = e
    for f in futures:
        if not f.cancel():  # started: it ends after its chunk (the dealer is empty or stopped)
            try:
                f.result()
            except BaseException as e:
                error = error or e
    if error is not None:
        raise error


_POOLS: "dict[tuple[int, int], ThreadPoolExecutor]" = {}


def _priority() -> int:
    """The calling thread's nice value (0 where it cannot be read)."""
    import os

    try:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    except (OSError, AttributeError):
        return 0


def _pool(n_threads, nice=0):
    """A persistent pool of n helper threads at CPU priority `nice` whose ATen/OpenMP kernels run single-threaded."""
    from concurrent.futures import ThreadPoolExecutor

    with _THREADS_LOCK:
        pool = _POOLS.get((n_threads, nice))
        if pool is None:
            pool = ThreadPoolExecutor(
                n_threads,
                thread_name_prefix=f"liif-decode-n{nice}",
                initializer=_helper_setup,
                initargs=(nice,),
            )
            _POOLS[(n_threads, nice)] = pool
    return pool


def _helper_setup(nice):
    _one_thread_kernels()
    if nice > _priority():  # lowering needs no privileges; raising cannot be done (nor is it needed)
        import os

        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
        except (OSError, AttributeError):
            pass


@functools.lru_cache(maxsize=1)
def _libgomp():
    """PyTorch's OpenMP runtime, when it is libgomp loaded in this process (Linux wheels); else None."""
    import ctypes

    try:
        lib = ctypes.CDLL(None)
        lib.omp_set_num_threads.argtypes = [ctypes.c_int]
        lib.omp_get_max_threads.restype = ctypes.c_int
        return lib
    except (OSError, AttributeError):
        return None


def _single_thread_kernels_available() -> bool:
    return torch.__config__.parallel_info().find("OpenMP") >= 0 and _libgomp() is not None


def _one_thread_kernels():
    """In a helper thread: ATen's per-thread set-up first (it would reset the count), then one
    OpenMP thread for this thread only (omp_set_num_threads sets the calling thread's count)."""
    torch.get_num_threads()  # ATen's lazy per-thread initialisation
    _omp().omp_set_num_threads(1)


def _omp():
    """libgomp, for code that runs only where _single_thread_kernels_available()."""
    lib = _libgomp()
    assert lib is not None
    return lib


class _one_thread_kernels_here:
    """In the calling thread, for a while: one OpenMP thread for its kernels, then its count as it was."""

    def __enter__(self):
        torch.get_num_threads()  # ATen's lazy per-thread initialisation, before the count is changed
        self.before = _omp().omp_get_max_threads()
        _omp().omp_set_num_threads(1)

    def __exit__(self, *exc):
        _omp().omp_set_num_threads(self.before)
