"""A compiled function that takes optimizer kernels as arguments, called through a pointer.

Numba specialises a jitted function on every jitted function it is passed (each has a type of its
own), so a loop over ``k`` kernels would be compiled ``k`` times, about 2 s each. Every kernel of
the suite has one signature, ``kernel(x, g, S, h, lr, t, key)`` (``theory_bench.engine.optimizer``):
``KERNEL_SIGNATURE``. ``KernelArgument`` compiles the function once with those arguments typed as
first-class functions of that signature, so every kernel runs in the same compiled code (the call
through a pointer costs nothing: ``theory_bench.bench.kernel_pointer_ratio``), and a new kernel costs its own
compile only. Where the arguments do not fit (a strided gradient, a kernel of another signature),
the function is compiled for those kernels themselves, as numba would.

The dispatcher never compiles at call time (a call would specialise on the kernel): ``compile(argtypes)``,
or ``call(*args)`` which compiles for the arguments' types first, comes before a call with new types.
"""
import numba
from numba.core import errors
from numba.core import types as nbt

VECTOR, ROWS = nbt.float64[::1], nbt.float64[:, ::1]
KERNEL_SIGNATURE = nbt.void(VECTOR, VECTOR, ROWS, VECTOR, nbt.float64, nbt.int64, nbt.uint64)
POINTER = nbt.FunctionType(KERNEL_SIGNATURE)


class KernelArgument:
    """``dispatcher`` (a jitted function) whose arguments at ``kernels`` are kernels, compiled for them
    as pointers of ``KERNEL_SIGNATURE`` when the arguments named in ``fixed`` (position -> numba type:
    those the function passes on to the kernel unchanged) have those types."""

    def __init__(self, dispatcher, kernels=(0,), fixed=None):
        self.dispatcher, self.kernels, self.fixed = dispatcher, tuple(kernels), dict(fixed or {})

    @property
    def stats(self):
        return self.dispatcher.stats

    def compile(self, argtypes):
        argtypes = tuple(argtypes)
        pointer = tuple(POINTER if i in self.kernels else ty for i, ty in enumerate(argtypes))
        d = self.dispatcher
        fits = self._fits(argtypes)
        if (fits and pointer in d.overloads) or argtypes in d.overloads:
            return
        d.disable_compile(False)
        try:
            if fits:
                try:
                    d.compile(pointer)
                    return
                except (errors.TypingError, ValueError):   # numba 0.68 types a mismatched pointer call as ValueError
                    pass                 # e.g. a gradient that is not a C-contiguous float64 vector
            d.compile(argtypes)          # compiled for these kernels, as a bound global would be
        finally:
            if d.signatures:
                d.disable_compile(True)

    def _fits(self, argtypes):
        if not all(isinstance(argtypes[i], nbt.Dispatcher) for i in self.kernels):
            return False
        if any(argtypes[i] != ty for i, ty in self.fixed.items()):
            return False
        try:
            for i in self.kernels:
                argtypes[i].dispatcher.compile(KERNEL_SIGNATURE.args)   # a lookup once compiled (or cached)
        except errors.TypingError:
            return False                 # a kernel of another signature
        return True

    def call(self, *args):
        """Compile for the types of ``args`` (a lookup after the first time), then call."""
        self.compile(tuple(numba.typeof(a) for a in args))
        return self.dispatcher(*args)

    def __call__(self, *args):
        return self.dispatcher(*args)
