"""Every environment variable sgdoctor knows: who reads it, how, its default, what it means.

One entry per variable of the owner's seed table (seeds/000_…txt) plus the companions that
the consumers read alongside them. The meanings are written from the consumers' source
(shared/facts.md), not from the seed's guesses; whatever is not public is marked
UNCONFIRMED. ``parse`` mirrors the reader and powers the generated ``env.<name>`` checks;
variables whose value is judged by a probing check point to that check instead.

It lives under ``parse`` because it is pure data plus parsers: checks, ``env`` and
``explain`` import it, and it imports nothing above ``parse``. Rows are keyword calls.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from functools import partial

from sgdoctor.api import Text
from sgdoctor.parse import dynamo, dynlog, flags, nvshmem
from sgdoctor.parse.url import parse_base_url
from sgdoctor.parse.verdict import Verdict
from sgdoctor.records import dataclass, field

__all__ = ["Entry", "CATALOGUE", "FAMILIES", "lookup", "entries", "env_check_id",
           "explain_text", "default_text", "DEFAULT_TEXTS"]

# (value, the whole environment, the installed release of the entry's package or None)
Parser = Callable[[str, Mapping[str, str], "str | None"], Verdict]


@dataclass(frozen=True)
class Entry:
    """One variable. ``check`` is the id of the check that covers it."""

    name: str
    title: str
    consumer: str
    source: str
    rule: str
    default: str
    example: str | None
    meaning_en: str
    meaning_zh: str
    check: str
    secret: bool = False
    parse: Parser | None = field(default=None, compare=False, repr=False)
    canonical: str | None = None  # the spelling the consumer really reads, if not this one
    reads: tuple[str, ...] = ()  # other variables the verdict depends on
    package: str | None = None  # the consumer (probe.consumers name) whose release matters
    verified: str | None = None  # the releases of that consumer the rule was verified for

    def meaning(self, lang: str = "en") -> str:
        return self.meaning_zh if lang == "zh" else self.meaning_en

    @property
    def has_env_check(self) -> bool:
        return self.check == env_check_id(self.name)


def env_check_id(name: str) -> str:
    return f"env.{name.lower()}"


def _value_only(fn: Callable[[str], Verdict]) -> Parser:
    def parse(value: str, env: Mapping[str, str], release: str | None = None) -> Verdict:
        return fn(value)

    return parse


def _torchdynamo(value: str, env: Mapping[str, str], release: str | None = None) -> Verdict:
    return flags.torchdynamo_disable(value,
                                     torch_compile_disable_value=env.get("TORCH_COMPILE_DISABLE"))


def _torch_compile(value: str, env: Mapping[str, str], release: str | None = None) -> Verdict:
    return flags.torch_compile_disable(value, release=release)


def _seconds(name: str, default: int) -> Parser:
    return _value_only(partial(dynamo.seconds, name=name, default=default))


_METAX = "MetaX runtime (closed source)"
_MCTRITON = "MetaX Triton (mcTriton)"
_NVSHMEM_CONF = ("; NVSHMEM 3.8 reads $NVSHMEM_CONF_FILE, ~/.nvshmem.conf and "
                 "/etc/nvshmem.conf too, and a value there beats the environment")
_MCTRITON_SRC = "MetaX-MACA/mcTriton third_party/metax"
_CLOSED = ("closed source, UNCONFIRMED: the shapes seen in MetaX configs are accepted "
           "(1, 0, True, False, integers), anything else is a warning")
_DYNAMO = "NVIDIA Dynamo runtime"



def _e(*, name: str, title: str, consumer: str, source: str, rule: str, default: str,
       en: str, zh: str, example: str | None = None, check: str | None = None,
       parse: Parser | None = None, secret: bool = False, canonical: str | None = None,
       reads: tuple[str, ...] = (), package: str | None = None,
       verified: str | None = None) -> Entry:
    """One catalogue row; ``check`` defaults to the generated ``env.<name>`` check."""
    return Entry(name=name, title=title, consumer=consumer, source=source, rule=rule,
                 default=default, example=example, meaning_en=en, meaning_zh=zh,
                 check=check or env_check_id(name), secret=secret, parse=parse,
                 canonical=canonical, reads=reads, package=package, verified=verified)


_ENTRIES = [
    # --- SGLang -------------------------------------------------------------------------
    _e(
        name="SGLANG_EXPERT_DISTRIBUTION_RECORDER_DIR",
        title="Expert distribution dump directory",
        consumer="SGLang (expert distribution recorder)",
        source="sglang python/sglang/srt/environ.py",
        rule="a directory path; created with mkdir -p on first dump",
        default="/tmp",
        en="Where SGLang writes expert_distribution_recorder_*.pt dumps when "
           "--expert-distribution-recorder-mode is set (per-token mode can be large). This is "
           "the spelling upstream SGLang reads.",
        zh="SGLang 专家分布记录器的输出目录：启用 --expert-distribution-recorder-mode 后，"
           "expert_distribution_recorder_*.pt 文件写到这里（per-token 模式文件可能很大）。上游 "
           "SGLang 读取的是这个拼写。",
        check="expert_record.dir",
    ),
    _e(
        name="SGLANG_EXPERT_DISTRIBUTION_RECORD_DIR",
        title="Expert distribution dump directory (seed spelling)",
        consumer="nobody upstream (the seed's spelling)",
        source="seeds/000 table; sglang environ.py reads …_RECORDER_DIR",
        rule="a directory path",
        default="not read: dumps go to SGLANG_EXPERT_DISTRIBUTION_RECORDER_DIR or /tmp",
        en="The seed table's spelling of the expert distribution dump directory. Upstream "
           "SGLang does NOT read it: set SGLANG_EXPERT_DISTRIBUTION_RECORDER_DIR, or dumps "
           "silently go to /tmp.",
        zh="种子表中专家分布记录目录的拼写。上游 SGLang 并不读取这个名字：请设置 "
           "SGLANG_EXPERT_DISTRIBUTION_RECORDER_DIR，否则记录文件会悄悄写到 /tmp。",
        check="expert_record.dir",
        canonical="SGLANG_EXPERT_DISTRIBUTION_RECORDER_DIR",
    ),
    # --- Network: gloo / NCCL / MCCL ----------------------------------------------------
    _e(
        name="GLOO_SOCKET_IFNAME",
        title="Gloo network interface",
        consumer="PyTorch ProcessGroupGloo and gloo",
        source="pytorch torch/csrc/distributed/c10d/init.cpp; gloo transport/tcp/device.cc",
        rule="used only if longer than 1 character; split on ',' (a trailing empty piece is "
             "dropped, any other empty piece aborts); exact interface names; the first "
             "IPv4/IPv6 address of each is used, and every rank must get the same family",
        default="gloo resolves the host name (127.x falls back to loopback, which breaks "
                "multi-node)",
        example="bond0",
        en="The network interface(s) Gloo binds to for CPU collectives and rendezvous between "
           "nodes. A missing interface aborts with 'Unable to find address for: <name>'.",
        zh="Gloo 用于跨节点 CPU 集合通信与 rendezvous 的网卡名（逗号分隔，名称须完全一致）。网卡"
           "不存在或没有地址时进程以 'Unable to find address for: <name>' 退出。",
        check="gloo.interface",
        package="torch",
        verified=flags.TORCH_VERIFIED,
    ),
    _e(
        name="NCCL_SOCKET_IFNAME",
        title="NCCL socket interfaces",
        consumer="NCCL",
        source="NCCL documentation",
        rule="comma list of interface name PREFIXES; '^' excludes, '=' matches exactly",
        default="any interface except lo and docker*",
        en="Interfaces NCCL may use for its socket transport and bootstrap; prefix matching, "
           "unlike gloo's exact names.",
        zh="NCCL socket 传输与引导所用网卡（按前缀匹配，'^' 排除，'=' 精确匹配），与 gloo 的精确"
           "名称规则不同。",
        check="gloo.interface",
    ),
    _e(
        name="MCCL_SOCKET_IFNAME",
        title="MCCL socket interfaces",
        consumer="MetaX MCCL (the NCCL twin)",
        source="facts.md (NCCL rules; MCCL mirrors NCCL)",
        rule="as NCCL_SOCKET_IFNAME: prefixes, '^', '='",
        default="any interface except lo and docker*",
        en="The MetaX collective library's (MCCL) interface selection, read like "
           "NCCL_SOCKET_IFNAME.",
        zh="MetaX 集合通信库 MCCL 的网卡选择，规则与 NCCL_SOCKET_IFNAME 相同。",
        check="gloo.interface",
    ),
    # --- MetaX runtime flags ------------------------------------------------------------
    _e(
        name="MACA_SMALL_PAGESIZE_ENABLE",
        title="MACA small page size",
        consumer=_METAX,
        source="MetaX vLLM-metax env.sh",
        rule=_CLOSED,
        default="the runtime's default page size",
        example="1",
        en="A MetaX runtime switch named for small memory pages; what it changes exactly is not "
           "public (UNCONFIRMED). MetaX's images set 1.",
        zh="MetaX 运行时中以“小页”命名的开关，具体改变什么未公开（未确认）。MetaX 镜像中设为 1。",
        parse=_value_only(partial(flags.metax_flag, what=Text("small page size"))),
    ),
    _e(
        name="MACA_DIRECT_DISPATCH",
        title="MACA direct dispatch",
        consumer=_METAX,
        source="MetaX vLLM-metax configs",
        rule=_CLOSED,
        default="the runtime's default dispatch path",
        example="1",
        en="A MetaX runtime switch for how kernel launches are dispatched; semantics not public "
           "(UNCONFIRMED). MetaX's configs set 1.",
        zh="MetaX 运行时关于 kernel 下发方式的开关，语义未公开（未确认）。MetaX 配置中设为 1。",
        parse=_value_only(partial(flags.metax_flag, what=Text("direct dispatch"))),
    ),
    _e(
        name="MACA_GRAPH_LAUNCH_QUEUE_POLICY",
        title="MACA graph launch queue policy",
        consumer=_METAX,
        source="MetaX vLLM-metax configs",
        rule="an integer; only 3 seen (closed source, UNCONFIRMED)",
        default="the runtime's default queue policy",
        example="3",
        en="The queue policy for launching captured graphs; 3 is described by MetaX as high "
           "priority for graph streams. Other values are not documented (UNCONFIRMED).",
        zh="图（graph）下发所用队列策略；MetaX 将 3 描述为图流高优先级。其他取值未公开（未确认）"
           "。",
        parse=_value_only(partial(flags.metax_int, what=Text("queue policy"), seen=(3,))),
    ),
    _e(
        name="MCDBG_GRAPH_LAUNCH_QUEUE_POLICY",
        title="MCDBG graph launch queue policy",
        consumer=_METAX,
        source="MetaX vLLM-metax configs",
        rule="an integer; only 3 seen (closed source, UNCONFIRMED)",
        default="the runtime's default queue policy",
        example="3",
        en="The debug-prefixed twin of MACA_GRAPH_LAUNCH_QUEUE_POLICY found in MetaX configs "
           "(3: high priority for graph streams); which runtime versions read it is not public.",
        zh="MetaX 配置中 MACA_GRAPH_LAUNCH_QUEUE_POLICY 的 MCDBG 前缀版本（3：图流高优先级）；哪"
           "些运行时版本读取它未公开（未确认）。",
        parse=_value_only(partial(flags.metax_int, what=Text("queue policy"), seen=(3,))),
    ),
    _e(
        name="MACA_VISIBLE_DEVICES",
        title="Visible MetaX GPUs",
        consumer="MACA runtime",
        source="facts.md (MetaX docs)",
        rule="comma list of GPU indices, like CUDA_VISIBLE_DEVICES",
        default="every GPU is visible",
        en="Which MetaX GPUs the process may use, by index (the CUDA_VISIBLE_DEVICES twin).",
        zh="进程可见的 MetaX GPU 序号列表（对应 CUDA_VISIBLE_DEVICES）。",
        check="maca.devices",
    ),
    _e(
        name="MACA_MPS_MODE",
        title="MACA MPS mode",
        consumer=_METAX,
        source="facts.md (MetaX docs)",
        rule=_CLOSED,
        default="one process per GPU",
        en="1 lets several processes share a GPU (the MPS twin); otherwise one process per GPU.",
        zh="设为 1 时允许多个进程共享同一块 GPU（类似 MPS）；否则每块 GPU 只能一个进程。",
        parse=_value_only(partial(flags.metax_flag, what=Text("MPS mode"))),
    ),
    _e(
        name="MACA_PATH",
        title="MACA SDK root",
        consumer="MetaX Triton, build tools, the MACA stack",
        source="mcTriton (asserts 'Not found MACA_PATH'); MetaX Dockerfiles",
        rule="a directory: lib/, include/, mxgpu_llvm/bin/mxcc, Version.txt",
        default="MetaX Triton asserts 'Not found MACA_PATH'",
        example="/opt/maca",
        en="Root of the MACA SDK (usually /opt/maca, often a symlink to /opt/maca-<version>): "
           "libraries, headers, and the mxcc compiler that MetaX Triton needs at run time.",
        zh="MACA SDK 根目录（通常为 /opt/maca，常是指向 /opt/maca-<版本> 的符号链接），包含库、"
           "头文件以及 MetaX Triton 运行时编译所需的 mxcc 编译器。",
        check="maca.sdk",
    ),
    # --- NVSHMEM --------------------------------------------------------------------------
    _e(
        name="NVSHMEM_SYMMETRIC_SIZE",
        title="NVSHMEM symmetric heap size",
        consumer="NVSHMEM",
        source="NVIDIA/nvshmem env_defs_internal.h (nvshmemi_atol_scaled)",
        rule="sscanf(\"%lf%c\"): a number, then at most one k/m/g/t suffix (powers of 1024) with "
             "nothing in between; anything after the suffix is ignored" + _NVSHMEM_CONF,
        default="1 GiB per PE (NVSHMEM 3.8.0)",
        example="3g",
        en="Size of the symmetric heap every PE (GPU process) reserves for NVSHMEM; all PEs use "
           "the same size. An invalid value stops NVSHMEM at init with 'Invalid size in "
           "environment variable'.",
        zh="NVSHMEM 对称堆大小：每个 PE（GPU 进程）预留同样大小。写法为数字加可选单位 k/m/g/t（"
           "按 1024 计），数字与单位之间不能有空格；非法值会让 NVSHMEM 初始化失败。",
        parse=_value_only(nvshmem.parse_size),
        package="nvshmem",
        verified=nvshmem.RELEASE,
    ),
    _e(
        name="NVSHMEM_DISABLE_CUDA_VMM",
        title="NVSHMEM CUDA VMM",
        consumer="NVSHMEM",
        source="NVIDIA/nvshmem env_defs_internal.h (nvshmemi_getenv_bool)",
        rule="false iff the first character is 0, N, n, F or f; ANY other set value (off, 2, "
             "empty) is true" + _NVSHMEM_CONF,
        default="false (NVSHMEM 3.8.0)",
        example="1",
        en="When true, NVSHMEM does not use the CUDA virtual memory management API for its "
           "heap. Beware: only the first character is looked at, so 'off' means TRUE.",
        zh="为真时 NVSHMEM 不使用 CUDA 虚拟内存管理（VMM）接口分配对称堆。注意只看首字符：仅 "
           "0/N/n/F/f 开头为假，'off'、空字符串等都被当作“真”。",
        parse=_value_only(nvshmem.parse_bool),
        package="nvshmem",
        verified=nvshmem.RELEASE,
    ),
    # --- MetaX Triton -------------------------------------------------------------------
    _e(
        name="TRITON_DISABLE_MACA_OPT_MMA_PREFETCH",
        title="mcTriton MMA prefetch",
        consumer=_MCTRITON,
        source="mcTriton MACACommon.cpp: getenv(...) == nullptr",
        rule="presence only: ANY value (0, false, empty included) disables prefetch",
        default="MMA prefetch enabled",
        example="1",
        en="Setting this variable at all turns off mcTriton's MMA operand prefetch; its value "
           "is never read, so 0 disables it too.",
        zh="只要设置了该变量（无论取值，包括 0 和空字符串），mcTriton 就关闭 MMA 预取优化；变量"
           "值本身不会被读取。",
        parse=_value_only(partial(flags.presence_flag, what=Text("MMA prefetch disabled"))),
    ),
    _e(
        name="TRITON_ENABLE_MACA_OPT_MOVE_DOT_OPERANDS_OUT_LOOP",
        title="mcTriton dot-operand hoisting",
        consumer=_MCTRITON,
        source="mcTriton compiler.py: Python truthiness of os.getenv",
        rule="Python truthiness: any non-empty string (0 and false included) enables",
        default="not enabled",
        example="1",
        en="Enables mcTriton's pass that moves dot operands out of loops. mcTriton tests the "
           "string's truthiness, so 0 and false ENABLE it; only unset or empty disables.",
        zh="开启 mcTriton 将 dot 操作数移出循环的优化。mcTriton 按 Python 字符串真值判断，因此 "
           "0、false 也会“开启”；只有不设置或设为空字符串才关闭。",
        parse=_value_only(partial(flags.python_truthy_flag,
                                  what=Text("dot-operand hoisting enabled"))),
    ),
    _e(
        name="TRITON_ENABLE_MACA_CHAIN_DOT_OPT",
        title="mcTriton chained-dot optimisation",
        consumer=_MCTRITON,
        source=_MCTRITON_SRC,
        rule=_CLOSED,
        default="mcTriton's default",
        example="1",
        en="Enables mcTriton's optimisation of chains of dot operations; how the value is "
           "parsed is not confirmed.",
        zh="开启 mcTriton 对连续 dot 运算链的优化；取值解析方式未确认。",
        parse=_value_only(partial(flags.metax_flag, what=Text("chained-dot optimisation"))),
    ),
    _e(
        name="TRITON_ENABLE_MACA_COMPILER_INT8_OPT",
        title="mcTriton INT8 compiler optimisation (not read)",
        consumer="nobody in mcTriton (only MetaX tuning scripts set it)",
        source="mcTriton third_party/metax reads TRITON_DISABLE_MACA_COMPILER_INT8_OPT instead",
        rule="not read: no value has any effect",
        default="mcTriton's INT8 optimisation is on unless "
                "TRITON_DISABLE_MACA_COMPILER_INT8_OPT is set",
        example="1",
        en="Meant to enable mcTriton's INT8 code generation optimisation, but mcTriton does not "
           "read this name: the optimisation is on by default and "
           "TRITON_DISABLE_MACA_COMPILER_INT8_OPT turns it off.",
        zh="本意是开启 mcTriton 的 INT8 代码生成优化，但 mcTriton 并不读取这个名字：该优化默认开"
           "启，关闭请用 TRITON_DISABLE_MACA_COMPILER_INT8_OPT。",
        parse=_value_only(partial(flags.not_read,
                                  instead="TRITON_DISABLE_MACA_COMPILER_INT8_OPT",
                                  reader="mcTriton")),
    ),
    _e(
        name="TRITON_DISABLE_MACA_COMPILER_INT8_OPT",
        title="mcTriton INT8 compiler optimisation off",
        consumer=_MCTRITON,
        source="mcTriton backend/compiler.py: Python truthiness of os.getenv",
        rule="Python truthiness: any non-empty string (0 and false included) disables",
        default="INT8 optimisation on",
        en="Turns mcTriton's INT8 code generation optimisation off. mcTriton tests the string's "
           "truthiness, so 0 and false DISABLE it too; only unset or empty keeps it.",
        zh="关闭 mcTriton 的 INT8 代码生成优化。mcTriton 按 Python 字符串真值判断，因此 0、"
           "false 也会“关闭”；只有不设置或设为空字符串才保持开启。",
        parse=_value_only(partial(flags.python_truthy_flag,
                                  what=Text("INT8 compiler optimisation disabled"))),
    ),
    _e(
        name="TRITON_ENABLE_ELEMENTWISE_PK_FMA_OPT",
        title="mcTriton packed-FMA optimisation (not read)",
        consumer="nobody in mcTriton (only MetaX tuning scripts set it)",
        source="mcTriton third_party/metax reads TRITON_DISABLE_ELEMENTWISE_PK_FMA_OPT instead",
        rule="not read: no value has any effect",
        default="packed FMA on unless TRITON_DISABLE_ELEMENTWISE_PK_FMA_OPT is set",
        example="True",
        en="Meant to enable mcTriton's packed fused multiply-add for element-wise code, but "
           "mcTriton does not read this name; TRITON_DISABLE_ELEMENTWISE_PK_FMA_OPT is the "
           "switch it has.",
        zh="本意是开启 mcTriton 对逐元素运算使用打包（packed）FMA 指令的优化，但 mcTriton 并不读"
           "取这个名字；它读取的是 TRITON_DISABLE_ELEMENTWISE_PK_FMA_OPT。",
        parse=_value_only(partial(flags.not_read,
                                  instead="TRITON_DISABLE_ELEMENTWISE_PK_FMA_OPT",
                                  reader="mcTriton")),
    ),
    _e(
        name="TRITON_DISABLE_ELEMENTWISE_PK_FMA_OPT",
        title="mcTriton packed-FMA optimisation off",
        consumer=_MCTRITON,
        source="mcTriton ElementwiseOpToLLVM.cpp (one version): getenv(...) == nullptr",
        rule="presence only: ANY value (0, false, empty included) disables packed FMA",
        default="packed FMA on",
        en="Setting this variable at all turns off mcTriton's packed FMA for element-wise code "
           "(in the mcTriton version that reads it); its value is never read, so 0 disables it "
           "too.",
        zh="只要设置了该变量（无论取值，包括 0 和空字符串），读取它的 mcTriton 版本就关闭逐元素"
           "运算的打包 FMA 优化；变量值本身不会被读取。",
        parse=_value_only(partial(flags.presence_flag, what=Text("packed FMA disabled"))),
    ),
    _e(
        name="FUSED_RMSNORM_QUANT",
        title="Fused RMSNorm + quantisation",
        consumer="MetaX inference stack (reader not public)",
        source="MetaX configs",
        rule=_CLOSED,
        default="the reader's default",
        example="False",
        en="Named for a fused RMSNorm-plus-quantisation kernel in MetaX's inference stack; "
           "which component reads it and how is not public (UNCONFIRMED).",
        zh="以 RMSNorm 与量化融合算子命名的 MetaX 推理栈开关；由哪个组件读取、如何解析均未公开（"
           "未确认）。",
        parse=_value_only(partial(flags.metax_flag, what=Text("fused RMSNorm+quant"))),
    ),
    # --- Search paths ---------------------------------------------------------------------
    _e(
        name="LD_LIBRARY_PATH",
        title="Shared library search path",
        consumer="glibc's dynamic loader (ld.so)",
        source="ld.so(8); glibc elf/dl-load.c",
        rule="split on ':' and ';'; an empty entry is the current directory; "
             "$ORIGIN/$LIB/$PLATFORM expanded; an entirely empty value is ignored",
        default="only DT_RUNPATH, /etc/ld.so.cache and the system directories",
        en="Directories the dynamic loader searches first for shared libraries; MetaX images "
           "put /opt/mxdriver/lib and $MACA_PATH/lib (and mxgpu_llvm, ompi, ucx) here.",
        zh="动态链接器优先搜索共享库的目录列表；MetaX 镜像会把 /opt/mxdriver/lib、"
           "$MACA_PATH/lib（以及 mxgpu_llvm、ompi、ucx）加入其中。空条目表示当前目录。",
    ),
    _e(
        name="PATH",
        title="Program search path",
        consumer="execvp and every shell",
        source="POSIX execvp",
        rule="split on ':'; an empty entry is the current directory",
        default="the C library's default (/bin:/usr/bin)",
        en="Directories searched for programs (mx-smi, mxcc, python, the C compiler Triton "
           "needs).",
        zh="查找可执行程序的目录列表（mx-smi、mxcc、python 以及 Triton 需要的 C 编译器等）。空条"
           "目表示当前目录。",
    ),
    _e(
        name="PYTHONPATH",
        title="Python module search path",
        consumer="CPython",
        source="CPython getpath",
        rule="split on ':'; each entry made absolute (an empty one is the current directory); "
             "an empty value is ignored",
        default="only the interpreter's own paths",
        en="Extra directories placed before site-packages on sys.path; a stale entry can shadow "
           "the installed sglang, torch or triton.",
        zh="放在 site-packages 之前的额外 Python 模块目录；过时的条目可能遮蔽已安装的 sglang、"
           "torch 或 triton。",
    ),
    # --- Rust toolchain mirrors -------------------------------------------------------------
    _e(
        name="RUSTUP_DIST_SERVER",
        title="rustup distribution mirror",
        consumer="rustup",
        source="rustup documentation",
        rule="an http(s) base URL; used only when rustup installs or updates toolchains",
        default="https://static.rust-lang.org",
        en="Base URL rustup downloads Rust toolchains from (a mirror such as a domestic one). "
           "It matters only while building or updating, never for serving.",
        zh="rustup 下载 Rust 工具链所用的镜像基础 URL（例如国内镜像）。只在构建或更新工具链时起"
           "作用，与推理服务运行无关。",
        parse=_value_only(partial(parse_base_url, default="https://static.rust-lang.org")),
    ),
    _e(
        name="RUSTUP_UPDATE_ROOT",
        title="rustup self-update mirror",
        consumer="rustup",
        source="rustup documentation",
        rule="an http(s) base URL; used only when rustup updates itself",
        default="https://static.rust-lang.org/rustup",
        en="Base URL rustup fetches its own updates from; only used by rustup self-update and "
           "the installer.",
        zh="rustup 自身更新所用的基础 URL；只在 rustup 自更新或安装时使用。",
        parse=_value_only(partial(parse_base_url,
                                  default="https://static.rust-lang.org/rustup")),
    ),
    # --- Dynamo: etcd -------------------------------------------------------------------
    _e(
        name="ETCD_ENDPOINTS",
        title="etcd endpoints",
        consumer="NVIDIA Dynamo runtime",
        source="ai-dynamo/dynamo lib/runtime/src/transports/etcd.rs",
        rule="split on ',' with NO trimming; http:// added when no scheme (https:// with TLS "
             "options)",
        default="http://localhost:2379",
        en="The etcd cluster Dynamo uses for service discovery and leases (TTL 10 s). Needed "
           "only when DYN_DISCOVERY_BACKEND is etcd, the default.",
        zh="Dynamo 用于服务发现和租约（TTL 10 秒）的 etcd 地址列表（逗号分隔，不去除空格）。仅在"
           " DYN_DISCOVERY_BACKEND 为 etcd（默认）时需要。",
        check="etcd.endpoints",
    ),
    _e(
        name="ETCD_AUTH_USERNAME",
        title="etcd user name",
        consumer="NVIDIA Dynamo runtime",
        source="dynamo etcd.rs",
        rule="used together with ETCD_AUTH_PASSWORD",
        default="no password authentication",
        en="User name for etcd password authentication (needs ETCD_AUTH_PASSWORD too).",
        zh="etcd 用户名密码认证的用户名（须同时设置 ETCD_AUTH_PASSWORD）。",
        check="etcd.endpoints",
    ),
    _e(
        name="ETCD_AUTH_PASSWORD",
        title="etcd password",
        consumer="NVIDIA Dynamo runtime",
        source="dynamo etcd.rs",
        rule="used together with ETCD_AUTH_USERNAME",
        default="no password authentication",
        en="Password for etcd authentication. Secret: never shown.",
        zh="etcd 认证密码。属于机密，永不显示。",
        check="etcd.endpoints",
        secret=True,
    ),
    _e(
        name="ETCD_AUTH_CA",
        title="etcd CA certificate",
        consumer="NVIDIA Dynamo runtime",
        source="dynamo etcd.rs",
        rule="PEM text (-----BEGIN …) in Dynamo 1.6.1, a file path makes start-up fail; TLS "
             "needs all three ETCD_AUTH_CA, _CLIENT_CERT, _CLIENT_KEY",
        default="no TLS client setup",
        en="CA certificate that signs the etcd server certificate (PEM text, not a path, in "
           "1.6.1).",
        zh="签发 etcd 服务器证书的 CA 证书（1.6.1 中须为 PEM 文本，不能是文件路径）。",
        check="etcd.endpoints",
        package="dynamo",
        verified=dynamo.RELEASE,
    ),
    _e(
        name="ETCD_AUTH_CLIENT_CERT",
        title="etcd client certificate",
        consumer="NVIDIA Dynamo runtime",
        source="dynamo etcd.rs",
        rule="PEM text in Dynamo 1.6.1 (a file path makes start-up fail)",
        default="no TLS client setup",
        en="Client certificate for mutual TLS with etcd (PEM text, not a path, in 1.6.1).",
        zh="与 etcd 双向 TLS 认证的客户端证书（1.6.1 中须为 PEM 文本，不能是文件路径）。",
        check="etcd.endpoints",
        package="dynamo",
        verified=dynamo.RELEASE,
    ),
    _e(
        name="ETCD_AUTH_CLIENT_KEY",
        title="etcd client key",
        consumer="NVIDIA Dynamo runtime",
        source="dynamo etcd.rs",
        rule="PEM text in Dynamo 1.6.1 (a file path makes start-up fail)",
        default="no TLS client setup",
        en="Private key of the etcd client certificate. Secret: never shown.",
        zh="etcd 客户端证书的私钥。属于机密，永不显示。",
        check="etcd.endpoints",
        secret=True,
        package="dynamo",
        verified=dynamo.RELEASE,
    ),
    _e(
        name="DYN_DISCOVERY_BACKEND",
        title="Dynamo discovery backend",
        consumer=_DYNAMO,
        source="dynamo lib/runtime/src/config.rs (Unknown key-value store type)",
        rule="exactly etcd, file (uses DYN_FILE_KV), mem or kubernetes, case-sensitive; "
             "anything else, '' and ETCD included, stops start-up",
        default="etcd",
        en="Where Dynamo registers and discovers workers; etcd.endpoints is skipped for any "
           "backend other than etcd. Any other value, the empty string included, makes Dynamo "
           "stop at start-up.",
        zh="Dynamo 注册与发现 worker 的后端（etcd、kubernetes、file、mem，区分大小写）；非 etcd "
           "时不检查 etcd。其他任何取值（包括空字符串）都会让 Dynamo 启动失败。",
        parse=_value_only(dynamo.discovery_backend),
        package="dynamo",
        verified=dynamo.RELEASE,
    ),
    _e(
        name="ETCD_STARTUP_CONNECT_TIMEOUT_SECONDS",
        title="etcd start-up connection timeout",
        consumer=_DYNAMO,
        source="dynamo lib/runtime/src/transports/etcd.rs",
        rule="whole seconds (Rust u64); 0 or invalid: a warning in the log and 120",
        default="120 s",
        en="How long Dynamo keeps retrying its first connection to etcd before it gives up with "
           "'etcd startup connection timed out'.",
        zh="Dynamo 首次连接 etcd 时重试的总时长，超时后以 'etcd startup connection timed out' 退"
           "出。",
        parse=_seconds("ETCD_STARTUP_CONNECT_TIMEOUT_SECONDS", 120),
        package="dynamo",
        verified=dynamo.RELEASE,
    ),
    _e(
        name="ETCD_LEASE_TTL",
        title="etcd lease TTL",
        consumer=_DYNAMO,
        source="dynamo lib/runtime/src/transports/etcd.rs",
        rule="whole seconds (Rust u64); 0 or invalid: a warning in the log and 10",
        default="10 s",
        en="Lifetime of the lease that keeps a worker's registration in etcd; a worker that "
           "stops renewing it disappears from discovery after this long.",
        zh="worker 在 etcd 中注册所用租约的存活时间；停止续约的 worker 在这段时间后从服务发现中"
           "消失。",
        parse=_seconds("ETCD_LEASE_TTL", 10),
        package="dynamo",
        verified=dynamo.RELEASE,
    ),
    _e(
        name="ETCD_KEEPALIVE_INTERVAL_SECONDS",
        title="etcd gRPC keep-alive interval",
        consumer=_DYNAMO,
        source="dynamo lib/runtime/src/transports/etcd.rs",
        rule="whole seconds; below etcd's --grpc-keepalive-min-time (5 s by default) the server "
             "may close the connection (GOAWAY too_many_pings)",
        default="the etcd client's default (UNCONFIRMED)",
        en="How often Dynamo's etcd client pings the server on an idle connection.",
        zh="Dynamo 的 etcd 客户端在空闲连接上发送 keep-alive ping 的间隔。",
        parse=_value_only(partial(dynamo.keepalive_interval,
                                  name="ETCD_KEEPALIVE_INTERVAL_SECONDS")),
        package="dynamo",
        verified=dynamo.RELEASE,
    ),
    _e(
        name="ETCD_KEEPALIVE_TIMEOUT_SECONDS",
        title="etcd gRPC keep-alive timeout",
        consumer=_DYNAMO,
        source="dynamo lib/runtime/src/transports/etcd.rs",
        rule="whole seconds (Rust u64)",
        default="the etcd client's default (UNCONFIRMED)",
        en="How long Dynamo's etcd client waits for a keep-alive answer before it treats the "
           "connection as dead.",
        zh="Dynamo 的 etcd 客户端等待 keep-alive 应答的时长，超时即认为连接已断开。",
        parse=_seconds("ETCD_KEEPALIVE_TIMEOUT_SECONDS", 20),
        package="dynamo",
        verified=dynamo.RELEASE,
    ),
    # --- Dynamo: NATS ---------------------------------------------------------------------
    _e(
        name="NATS_SERVER",
        title="NATS server",
        consumer=_DYNAMO,
        source="ai-dynamo/dynamo lib/runtime/src/transports/nats.rs",
        rule="ONE address (not split on ','), starting with nats:// or tls://; nats:// with "
             "NATS_TLS_* set stops start-up; set, it makes Dynamo use NATS unless "
             "DYN_EVENT_PLANE is set explicitly",
        default="nats://localhost:4222 (used only when a plane selects NATS)",
        en="The NATS server Dynamo uses for messaging when the request or event plane is NATS, "
           "or when it is set and no event plane is chosen. Dynamo 1.6.1 starts without "
           "JetStream; older releases required it ('JetStream not available').",
        zh="Dynamo 使用的 NATS 服务器（只能一个地址，以 nats:// 或 tls:// 开头）。请求面或事件面"
           "选择 NATS 时使用；设置了它且未显式选择事件面时也会使用。1.6.1 不需要 JetStream，旧版"
           "本需要。",
        check="nats.server",
        package="dynamo",
        verified=dynamo.RELEASE,
    ),
    _e(
        name="NATS_STARTUP_CONNECT_TIMEOUT_SECONDS",
        title="NATS start-up connection timeout",
        consumer=_DYNAMO,
        source="dynamo lib/runtime/src/transports/nats.rs",
        rule="whole seconds (Rust u64); 0 or invalid: a warning in the log and 120",
        default="120 s",
        en="How long Dynamo keeps retrying its first connection to NATS before it gives up with "
           "'Failed to connect to NATS'.",
        zh="Dynamo 首次连接 NATS 时重试的总时长，超时后以 'Failed to connect to NATS' 退出。",
        parse=_seconds("NATS_STARTUP_CONNECT_TIMEOUT_SECONDS", 120),
        package="dynamo",
        verified=dynamo.RELEASE,
    ),
    _e(
        name="NATS_AUTH_USERNAME",
        title="NATS user name",
        consumer="NVIDIA Dynamo runtime",
        source="dynamo nats.rs",
        rule="used together with NATS_AUTH_PASSWORD (tried first)",
        default="no user/password",
        en="User name for NATS authentication (with NATS_AUTH_PASSWORD).",
        zh="NATS 用户名认证的用户名（与 NATS_AUTH_PASSWORD 一起使用）。",
        check="nats.server",
    ),
    _e(
        name="NATS_AUTH_PASSWORD",
        title="NATS password",
        consumer="NVIDIA Dynamo runtime",
        source="dynamo nats.rs",
        rule="used together with NATS_AUTH_USERNAME",
        default="no user/password",
        en="Password for NATS authentication. Secret: never shown.",
        zh="NATS 认证密码。属于机密，永不显示。",
        check="nats.server",
        secret=True,
    ),
    _e(
        name="NATS_AUTH_TOKEN",
        title="NATS token",
        consumer="NVIDIA Dynamo runtime",
        source="dynamo nats.rs",
        rule="tried after user/password",
        default="no token",
        en="Token for NATS authentication. Secret: never shown.",
        zh="NATS 令牌认证。属于机密，永不显示。",
        check="nats.server",
        secret=True,
    ),
    _e(
        name="NATS_AUTH_NKEY",
        title="NATS NKey seed",
        consumer="NVIDIA Dynamo runtime",
        source="dynamo nats.rs",
        rule="tried after the token",
        default="no NKey",
        en="NKey seed for NATS authentication. Secret: never shown.",
        zh="NATS NKey 认证种子。属于机密，永不显示。",
        check="nats.server",
        secret=True,
    ),
    _e(
        name="NATS_AUTH_CREDENTIALS_FILE",
        title="NATS credentials file",
        consumer="NVIDIA Dynamo runtime",
        source="dynamo nats.rs",
        rule="a path to a .creds file; tried last",
        default="no credentials file",
        en="Path of a NATS .creds file (JWT + NKey). Treated as secret, never shown.",
        zh="NATS .creds 凭据文件路径（JWT + NKey）。按机密处理，不显示。",
        check="nats.server",
        secret=True,
    ),
    _e(
        name="NATS_TLS_CA_CERT_PATH",
        title="NATS CA certificate",
        consumer="NVIDIA Dynamo runtime",
        source="dynamo nats.rs",
        rule="a file path",
        default="system roots",
        en="CA certificate used to verify the NATS server.",
        zh="用于校验 NATS 服务器证书的 CA 证书路径。",
        check="nats.server",
    ),
    _e(
        name="NATS_TLS_CLIENT_CERT_PATH",
        title="NATS client certificate",
        consumer="NVIDIA Dynamo runtime",
        source="dynamo nats.rs",
        rule="a file path",
        default="no client certificate",
        en="Client certificate for mutual TLS with NATS.",
        zh="与 NATS 双向 TLS 认证的客户端证书路径。",
        check="nats.server",
    ),
    _e(
        name="NATS_TLS_CLIENT_KEY_PATH",
        title="NATS client key",
        consumer="NVIDIA Dynamo runtime",
        source="dynamo nats.rs",
        rule="a file path",
        default="no client key",
        en="Private key of the NATS client certificate. Treated as secret, never shown.",
        zh="NATS 客户端证书私钥路径。按机密处理，不显示。",
        check="nats.server",
        secret=True,
    ),
    _e(
        name="NATS_TLS_INSECURE",
        title="NATS TLS verification off",
        consumer="NVIDIA Dynamo runtime",
        source="dynamo nats.rs",
        rule="a boolean",
        default="certificates are verified",
        en="Turns off verification of the NATS server certificate.",
        zh="关闭对 NATS 服务器证书的校验。",
        check="nats.server",
    ),
    _e(
        name="DYN_REQUEST_PLANE",
        title="Dynamo request plane",
        consumer=_DYNAMO,
        source="dynamo lib/runtime/src/distributed.rs (Invalid request plane mode)",
        rule="nats or tcp, case-insensitive; anything else (http included) stops start-up",
        default="tcp",
        en="Transport for requests between Dynamo components. nats makes Dynamo use NATS; older "
           "releases always used NATS.",
        zh="Dynamo 组件间请求的传输方式（nats 或 tcp，不区分大小写，默认 tcp）；其他取值会让 "
           "Dynamo 启动失败。旧版本总是使用 NATS。",
        parse=_value_only(dynamo.request_plane),
        package="dynamo",
        verified=dynamo.RELEASE,
    ),
    _e(
        name="DYN_EVENT_PLANE",
        title="Dynamo event plane",
        consumer=_DYNAMO,
        source="dynamo lib/runtime (Invalid event_plane value)",
        rule="exactly nats or zmq, case-sensitive; unset or empty is zmq; anything else stops "
             "start-up",
        default="zmq (Dynamo 1.6.1)",
        en="Transport for Dynamo's events (KV cache events, metrics). nats makes Dynamo use "
           "NATS; an explicit zmq keeps the standard workers off NATS even with NATS_SERVER set "
           "(components started through dynamo_worker() still connect).",
        zh="Dynamo 事件（KV cache 事件、指标等）的传输方式：nats 或 zmq（区分大小写），默认 "
           "zmq。显式设为 zmq 时标准 worker 即使设置了 NATS_SERVER 也不连 NATS。",
        parse=_value_only(dynamo.event_plane),
        package="dynamo",
        verified=dynamo.RELEASE,
    ),
    _e(
        name="DYN_RESPONSE_PLANE",
        title="Dynamo response plane",
        consumer=_DYNAMO,
        source="dynamo lib/runtime (invalid response plane … expected 'tcp' or 'quic')",
        rule="tcp or quic; anything else stops start-up",
        default="tcp",
        en="Transport for streamed responses between Dynamo components.",
        zh="Dynamo 组件间流式响应的传输方式（tcp 或 quic）。",
        parse=_value_only(dynamo.response_plane),
        package="dynamo",
        verified=dynamo.RELEASE,
    ),
    # --- Dynamo logging -----------------------------------------------------------------
    _e(
        name="DYN_LOG",
        title="Dynamo log filter",
        consumer=_DYNAMO,
        source="ai-dynamo/dynamo lib/runtime/src/logging.rs (tracing-subscriber 0.3.23 "
               "EnvFilter)",
        rule="split on ','; each piece 'level', 'target=level' or 'target[span{f=v}]=level'; a "
             "target may hold any character (' info' is a target); '=level' is global; "
             "'target=' means error; a bad level part is dropped with a note on stderr",
        default="info",
        example="info",
        en="Dynamo's log filter, read once at start-up. 'warning' is not a level (it becomes a "
           "target name), and whitespace makes a piece a target that matches nothing.",
        zh="Dynamo 的日志过滤规则（启动时读取一次）：逗号分隔的 'level' 或 'target=level'。"
           "'warning' 不是合法级别（会被当作 target 名）；带空格的片段也会变成匹配不到任何模块的"
           " target。",
        parse=_value_only(dynlog.parse_dyn_log),
        package="dynamo",
        verified=dynamo.RELEASE,
    ),
    _e(
        name="DYN_LOGGING_JSONL",
        title="Dynamo JSON-lines logs",
        consumer=_DYNAMO,
        source="dynamo lib/runtime/src/config.rs",
        rule="trimmed, then true for 1|true|on|yes (case-insensitive), else false",
        default="false",
        en="Makes Dynamo write its logs as JSON lines instead of text.",
        zh="让 Dynamo 以 JSON Lines 格式输出日志（去掉首尾空白后，仅 1/true/on/yes 为真）。",
        parse=_value_only(dynamo.dynamo_bool),
        package="dynamo",
        verified=dynamo.RELEASE,
    ),
    # --- PyTorch ------------------------------------------------------------------------
    _e(
        name="PYTORCH_ENABLE_PG_HIGH_PRIORITY_STREAM",
        title="High-priority process-group streams",
        consumer="MetaX PyTorch build (mcPytorch; reader not public)",
        source="MetaX configs; mcPytorch reads its other PYTORCH_* flags by presence (ATen "
               "Context.cpp); upstream's twin is TORCH_NCCL_HIGH_PRIORITY",
        rule="UNCONFIRMED: if it is read like MetaX's other PYTORCH_* flags, ANY value (0 "
             "included) enables it",
        default="normal-priority streams",
        example="1",
        en="Asks the process group to run collectives on high-priority GPU streams. Found only "
           "in MetaX configs; its reader is not public, and MetaX's other PYTORCH_* flags are "
           "read by presence, so 0 may ENABLE it. Upstream PyTorch reads "
           "TORCH_NCCL_HIGH_PRIORITY instead.",
        zh="让进程组（ProcessGroup）的集合通信使用高优先级 GPU 流。仅见于 MetaX 配置，读取方未公"
           "开；MetaX 的其他 PYTORCH_* 开关按“是否设置”判断，因此 0 也可能“开启”（未确认）。上游"
           " PyTorch 对应的变量是 TORCH_NCCL_HIGH_PRIORITY。",
        parse=_value_only(flags.metax_presence_suspect),
    ),
    _e(
        name="TORCHDYNAMO_DISABLE",
        title="TorchDynamo off",
        consumer="PyTorch (every torch.compile() call)",
        source="pytorch torch/_dynamo/eval_frame.py",
        rule="exactly 1 disables torch.compile; any other value has no effect",
        default="torch.compile enabled",
        example="1",
        en="Turns torch.compile off: with exactly 1, torch.compile returns the function "
           "unchanged. Any other value (0, true, yes) does nothing at all.",
        zh="关闭 torch.compile：只有取值恰为 1 时，torch.compile 直接返回原函数；其他任何取值（"
           "0、true、yes 等）都不起作用。",
        parse=_torchdynamo,
        reads=("TORCH_COMPILE_DISABLE",),
        package="torch",
        verified=flags.TORCH_VERIFIED,
    ),
    _e(
        name="TORCH_COMPILE_DISABLE",
        title="torch.compile off",
        consumer="PyTorch",
        source="pytorch torch/_dynamo/config.py",
        rule="PyTorch 2.13: exactly 1 disables; older releases: any non-empty value (0 "
             "included) disables",
        default="torch.compile enabled",
        en="Turns torch.compile / TorchDynamo off. Use exactly 1: other values mean different "
           "things in different PyTorch releases.",
        zh="关闭 torch.compile / TorchDynamo。请只用 1：其他取值在不同 PyTorch 版本中含义不同（"
           "旧版本中任何非空值，包括 0，都会关闭）。",
        parse=_torch_compile,
        package="torch",
        verified=flags.TORCH_VERIFIED,
    ),
]

CATALOGUE: dict[str, Entry] = {entry.name: entry for entry in _ENTRIES}

# Closed families: a set name with one of these prefixes that is no member is a typo.
FAMILIES = ("ETCD_AUTH_", "NATS_AUTH_", "NATS_TLS_", "SGLANG_EXPERT_DISTRIBUTION_")


# The defaults that are words, not values: shown translated (a value such as /tmp, tcp or a
# URL is shown verbatim). tests/test_i18n_env.py holds this list to the rows above.
_DEFAULT_TEXTS = [
    Text("1 GiB per PE (NVSHMEM 3.8.0)"), Text("10 s"), Text("120 s"),
    Text("INT8 optimisation on"), Text("MMA prefetch enabled"),
    Text("MetaX Triton asserts 'Not found MACA_PATH'"),
    Text("any interface except lo and docker*"), Text("certificates are verified"),
    Text("every GPU is visible"), Text("false (NVSHMEM 3.8.0)"),
    Text("gloo resolves the host name (127.x falls back to loopback, which breaks multi-node)"),
    Text("mcTriton's INT8 optimisation is on unless TRITON_DISABLE_MACA_COMPILER_INT8_OPT is "
         "set"),
    Text("mcTriton's default"),
    Text("nats://localhost:4222 (used only when a plane selects NATS)"), Text("no NKey"),
    Text("no TLS client setup"), Text("no client certificate"), Text("no client key"),
    Text("no credentials file"), Text("no password authentication"), Text("no token"),
    Text("no user/password"), Text("normal-priority streams"), Text("not enabled"),
    Text("not read: dumps go to SGLANG_EXPERT_DISTRIBUTION_RECORDER_DIR or /tmp"),
    Text("one process per GPU"),
    Text("only DT_RUNPATH, /etc/ld.so.cache and the system directories"),
    Text("only the interpreter's own paths"), Text("packed FMA on"),
    Text("packed FMA on unless TRITON_DISABLE_ELEMENTWISE_PK_FMA_OPT is set"),
    Text("system roots"), Text("the C library's default (/bin:/usr/bin)"),
    Text("the etcd client's default (UNCONFIRMED)"), Text("the reader's default"),
    Text("the runtime's default dispatch path"), Text("the runtime's default page size"),
    Text("the runtime's default queue policy"), Text("torch.compile enabled"),
    Text("zmq (Dynamo 1.6.1)"),
]
DEFAULT_TEXTS = {text.msgid: text for text in _DEFAULT_TEXTS}


def default_text(entry: Entry) -> str | Text:
    """The entry's default as a report shows it: words translated, a value verbatim."""
    return DEFAULT_TEXTS.get(entry.default, entry.default)


def lookup(name: str) -> Entry | None:
    """The entry for ``name``; an exact match first, then the upper-case spelling."""
    return CATALOGUE.get(name) or CATALOGUE.get(name.upper())


def entries() -> Iterator[Entry]:
    """All entries, in catalogue order (seed variables first, by topic)."""
    return iter(_ENTRIES)


def explain_text(entry: Entry, lang: str = "en",
                 translate: Callable[[str], str] = str) -> str:
    """A plain-text rendering of one entry, for ``sgdoctor explain VAR``; ``translate`` (the
    caller's gettext in ``lang``) renders the parsing rule and a default in words."""
    zh = lang == "zh"
    default = default_text(entry)
    rows = [
        (entry.name, entry.meaning(lang)),
        ("读取者" if zh else "Read by", f"{entry.consumer} ({entry.source})"),
        ("解析规则" if zh else "Parsed as", translate(entry.rule)),   # every rule is a msgid
        ("默认" if zh else "Default",
         translate(default.msgid) if isinstance(default, Text) else default),
    ]
    if entry.example is not None:
        rows.append(("种子示例" if zh else "Seed example", entry.example))
    if entry.canonical:
        rows.append(("应使用" if zh else "Use instead", entry.canonical))
    if entry.secret:
        rows.append(("机密" if zh else "Secret", "是，值永不显示" if zh else "yes, never shown"))
    rows.append(("检查" if zh else "Checked by", entry.check))
    head, *rest = rows
    return "\n".join([f"{head[0]}: {head[1]}", *(f"  {k}: {v}" for k, v in rest)])
