"""Every environment variable sgdoctor knows: who reads it, how, its default, what it means.

One entry per variable of the owner's seed table (seeds/000_…txt) plus the companions that
the consumers read alongside them. The meanings are written from the consumers' source
(shared/facts.md), not from the seed's guesses; whatever is not public is marked
UNCONFIRMED. ``parse`` mirrors the reader and powers the generated ``env.<name>`` checks;
variables whose value is judged by a probing check point to that check instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial

from sgdoctor.parse import dynlog, flags, nvshmem
from sgdoctor.parse.url import parse_base_url
from sgdoctor.parse.verdict import Verdict

__all__ = ["Entry", "CATALOGUE", "FAMILIES", "lookup", "entries", "env_check_id",
           "explain_text"]

Parser = Callable[[str, Mapping[str, str]], Verdict]


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

    def meaning(self, lang: str = "en") -> str:
        return self.meaning_zh if lang == "zh" else self.meaning_en

    @property
    def has_env_check(self) -> bool:
        return self.check == env_check_id(self.name)


def env_check_id(name: str) -> str:
    return f"env.{name.lower()}"


def _value_only(fn: Callable[[str], Verdict]) -> Parser:
    return lambda value, env: fn(value)


def _torchdynamo(value: str, env: Mapping[str, str]) -> Verdict:
    return flags.torchdynamo_disable(value,
                                     torch_compile_disable_value=env.get("TORCH_COMPILE_DISABLE"))


_METAX = "MetaX runtime (closed source)"
_MCTRITON = "MetaX Triton (mcTriton)"
_NVSHMEM_CONF = ("; recent NVSHMEM lets /etc/nvshmem.conf, ~/.nvshmem.conf and "
                 "$NVSHMEM_CONF_FILE override the environment")
_MCTRITON_SRC = "MetaX-MACA/mcTriton third_party/metax"
_CLOSED = ("closed source, UNCONFIRMED: the shapes seen in MetaX configs are accepted "
           "(1, 0, True, False, integers), anything else is a warning")
_NEWER_DEFAULT_EN = (" Newer mcTriton enables this optimisation by default and reads a "
                     "TRITON_DISABLE_… variable instead, so this ENABLE form may be a no-op "
                     "there.")
_NEWER_DEFAULT_ZH = ("较新的 mcTriton 默认已开启该优化，并改读对应的 TRITON_DISABLE_… 变量，"
                     "因此这个 ENABLE 形式在新版本中可能不起作用。")


def _e(name: str, title: str, consumer: str, source: str, rule: str, default: str,
       example: str | None, en: str, zh: str, check: str | None = None, *,
       parse: Parser | None = None, secret: bool = False, canonical: str | None = None,
       reads: tuple[str, ...] = ()) -> Entry:
    return Entry(name, title, consumer, source, rule, default, example, en, zh,
                 check or env_check_id(name), secret, parse, canonical, reads)


_ENTRIES = [
    # --- SGLang -------------------------------------------------------------------------
    _e("SGLANG_EXPERT_DISTRIBUTION_RECORDER_DIR", "Expert distribution dump directory",
       "SGLang (expert distribution recorder)", "sglang python/sglang/srt/environ.py",
       "a directory path; created with mkdir -p on first dump", "/tmp", None,
       "Where SGLang writes expert_distribution_recorder_*.pt dumps when "
       "--expert-distribution-recorder-mode is set (per-token mode can be large). This is "
       "the spelling upstream SGLang reads.",
       "SGLang 专家分布记录器的输出目录：启用 --expert-distribution-recorder-mode 后，"
       "expert_distribution_recorder_*.pt 文件写到这里（per-token 模式文件可能很大）。"
       "上游 SGLang 读取的是这个拼写。",
       "expert_record.dir"),
    _e("SGLANG_EXPERT_DISTRIBUTION_RECORD_DIR", "Expert distribution dump directory (seed "
       "spelling)", "nobody upstream (the seed's spelling)", "seeds/000 table; sglang "
       "environ.py reads …_RECORDER_DIR", "a directory path", "not read: dumps go to "
       "SGLANG_EXPERT_DISTRIBUTION_RECORDER_DIR or /tmp", None,
       "The seed table's spelling of the expert distribution dump directory. Upstream "
       "SGLang does NOT read it: set SGLANG_EXPERT_DISTRIBUTION_RECORDER_DIR, or dumps "
       "silently go to /tmp.",
       "种子表中专家分布记录目录的拼写。上游 SGLang 并不读取这个名字：请设置 "
       "SGLANG_EXPERT_DISTRIBUTION_RECORDER_DIR，否则记录文件会悄悄写到 /tmp。",
       "expert_record.dir", canonical="SGLANG_EXPERT_DISTRIBUTION_RECORDER_DIR"),
    # --- Network: gloo / NCCL / MCCL ----------------------------------------------------
    _e("GLOO_SOCKET_IFNAME", "Gloo network interface", "PyTorch ProcessGroupGloo and gloo",
       "pytorch torch/csrc/distributed/c10d/init.cpp; gloo transport/tcp/device.cc",
       "used only if longer than 1 character; split on ','; exact interface names; the "
       "first IPv4/IPv6 address of each is used", "gloo resolves the host name "
       "(127.x falls back to loopback, which breaks multi-node)", "bond0",
       "The network interface(s) Gloo binds to for CPU collectives and rendezvous between "
       "nodes. A missing interface aborts with 'Unable to find address for: <name>'.",
       "Gloo 用于跨节点 CPU 集合通信与 rendezvous 的网卡名（逗号分隔，名称须完全一致）。"
       "网卡不存在或没有地址时进程以 'Unable to find address for: <name>' 退出。",
       "gloo.interface"),
    _e("NCCL_SOCKET_IFNAME", "NCCL socket interfaces", "NCCL", "NCCL documentation",
       "comma list of interface name PREFIXES; '^' excludes, '=' matches exactly",
       "any interface except lo and docker*", None,
       "Interfaces NCCL may use for its socket transport and bootstrap; prefix matching, "
       "unlike gloo's exact names.",
       "NCCL socket 传输与引导所用网卡（按前缀匹配，'^' 排除，'=' 精确匹配），"
       "与 gloo 的精确名称规则不同。",
       "gloo.interface"),
    _e("MCCL_SOCKET_IFNAME", "MCCL socket interfaces", "MetaX MCCL (the NCCL twin)",
       "facts.md (NCCL rules; MCCL mirrors NCCL)", "as NCCL_SOCKET_IFNAME: prefixes, '^', '='",
       "any interface except lo and docker*", None,
       "The MetaX collective library's (MCCL) interface selection, read like "
       "NCCL_SOCKET_IFNAME.",
       "MetaX 集合通信库 MCCL 的网卡选择，规则与 NCCL_SOCKET_IFNAME 相同。",
       "gloo.interface"),
    # --- MetaX runtime flags ------------------------------------------------------------
    _e("MACA_SMALL_PAGESIZE_ENABLE", "MACA small page size", _METAX, "MetaX vLLM-metax env.sh",
       _CLOSED, "the runtime's default page size", "1",
       "A MetaX runtime switch named for small memory pages; what it changes exactly is not "
       "public (UNCONFIRMED). MetaX's images set 1.",
       "MetaX 运行时中以“小页”命名的开关，具体改变什么未公开（未确认）。MetaX 镜像中设为 1。",
       parse=_value_only(partial(flags.metax_flag, what="small page size"))),
    _e("MACA_DIRECT_DISPATCH", "MACA direct dispatch", _METAX, "MetaX vLLM-metax configs",
       _CLOSED, "the runtime's default dispatch path", "1",
       "A MetaX runtime switch for how kernel launches are dispatched; semantics not public "
       "(UNCONFIRMED). MetaX's configs set 1.",
       "MetaX 运行时关于 kernel 下发方式的开关，语义未公开（未确认）。MetaX 配置中设为 1。",
       parse=_value_only(partial(flags.metax_flag, what="direct dispatch"))),
    _e("MACA_GRAPH_LAUNCH_QUEUE_POLICY", "MACA graph launch queue policy", _METAX,
       "MetaX vLLM-metax configs", "an integer; only 3 seen (closed source, UNCONFIRMED)",
       "the runtime's default queue policy", "3",
       "The queue policy for launching captured graphs; 3 is described by MetaX as high "
       "priority for graph streams. Other values are not documented (UNCONFIRMED).",
       "图（graph）下发所用队列策略；MetaX 将 3 描述为图流高优先级。其他取值未公开（未确认）。",
       parse=_value_only(partial(flags.metax_int, what="queue policy", seen=(3,)))),
    _e("MCDBG_GRAPH_LAUNCH_QUEUE_POLICY", "MCDBG graph launch queue policy", _METAX,
       "MetaX vLLM-metax configs", "an integer; only 3 seen (closed source, UNCONFIRMED)",
       "the runtime's default queue policy", "3",
       "The debug-prefixed twin of MACA_GRAPH_LAUNCH_QUEUE_POLICY found in MetaX configs "
       "(3: high priority for graph streams); which runtime versions read it is not public.",
       "MetaX 配置中 MACA_GRAPH_LAUNCH_QUEUE_POLICY 的 MCDBG 前缀版本（3：图流高优先级）；"
       "哪些运行时版本读取它未公开（未确认）。",
       parse=_value_only(partial(flags.metax_int, what="queue policy", seen=(3,)))),
    _e("MACA_VISIBLE_DEVICES", "Visible MetaX GPUs", "MACA runtime",
       "facts.md (MetaX docs)", "comma list of GPU indices, like CUDA_VISIBLE_DEVICES",
       "every GPU is visible", None,
       "Which MetaX GPUs the process may use, by index (the CUDA_VISIBLE_DEVICES twin).",
       "进程可见的 MetaX GPU 序号列表（对应 CUDA_VISIBLE_DEVICES）。",
       "maca.devices"),
    _e("MACA_MPS_MODE", "MACA MPS mode", _METAX, "facts.md (MetaX docs)", _CLOSED,
       "one process per GPU", None,
       "1 lets several processes share a GPU (the MPS twin); otherwise one process per GPU.",
       "设为 1 时允许多个进程共享同一块 GPU（类似 MPS）；否则每块 GPU 只能一个进程。",
       parse=_value_only(partial(flags.metax_flag, what="MPS mode"))),
    _e("MACA_PATH", "MACA SDK root", "MetaX Triton, build tools, the MACA stack",
       "mcTriton (asserts 'Not found MACA_PATH'); MetaX Dockerfiles",
       "a directory: lib/, include/, mxgpu_llvm/bin/mxcc, Version.txt",
       "MetaX Triton asserts 'Not found MACA_PATH'", "/opt/maca",
       "Root of the MACA SDK (usually /opt/maca, often a symlink to /opt/maca-<version>): "
       "libraries, headers, and the mxcc compiler that MetaX Triton needs at run time.",
       "MACA SDK 根目录（通常为 /opt/maca，常是指向 /opt/maca-<版本> 的符号链接），"
       "包含库、头文件以及 MetaX Triton 运行时编译所需的 mxcc 编译器。",
       "maca.sdk"),
    # --- NVSHMEM --------------------------------------------------------------------------
    _e("NVSHMEM_SYMMETRIC_SIZE", "NVSHMEM symmetric heap size", "NVSHMEM",
       "NVIDIA/nvshmem env_defs_internal.h (nvshmemi_atol_scaled)",
       "sscanf(\"%lf%c\"): a number, then at most one k/m/g/t suffix (powers of 1024) with "
       "nothing in between; anything after the suffix is ignored" + _NVSHMEM_CONF,
       "1 GiB per PE", "3g",
       "Size of the symmetric heap every PE (GPU process) reserves for NVSHMEM; all PEs "
       "use the same size. An invalid value stops NVSHMEM at init with 'Invalid size in "
       "environment variable'.",
       "NVSHMEM 对称堆大小：每个 PE（GPU 进程）预留同样大小。写法为数字加可选单位 "
       "k/m/g/t（按 1024 计），数字与单位之间不能有空格；非法值会让 NVSHMEM 初始化失败。",
       parse=_value_only(nvshmem.parse_size)),
    _e("NVSHMEM_DISABLE_CUDA_VMM", "NVSHMEM CUDA VMM", "NVSHMEM",
       "NVIDIA/nvshmem env_defs_internal.h (nvshmemi_getenv_bool)",
       "false iff the first character is 0, N, n, F or f; ANY other set value (off, 2, "
       "empty) is true" + _NVSHMEM_CONF, "NVSHMEM's build default", "1",
       "When true, NVSHMEM does not use the CUDA virtual memory management API for its "
       "heap. Beware: only the first character is looked at, so 'off' means TRUE.",
       "为真时 NVSHMEM 不使用 CUDA 虚拟内存管理（VMM）接口分配对称堆。注意只看首字符："
       "仅 0/N/n/F/f 开头为假，'off'、空字符串等都被当作“真”。",
       parse=_value_only(nvshmem.parse_bool)),
    # --- MetaX Triton -------------------------------------------------------------------
    _e("TRITON_DISABLE_MACA_OPT_MMA_PREFETCH", "mcTriton MMA prefetch", _MCTRITON,
       "mcTriton MACACommon.cpp: getenv(...) == nullptr",
       "presence only: ANY value (0, false, empty included) disables prefetch",
       "MMA prefetch enabled", "1",
       "Setting this variable at all turns off mcTriton's MMA operand prefetch; its value is "
       "never read, so 0 disables it too.",
       "只要设置了该变量（无论取值，包括 0 和空字符串），mcTriton 就关闭 MMA 预取优化；"
       "变量值本身不会被读取。",
       parse=_value_only(partial(flags.presence_flag, what="MMA prefetch disabled"))),
    _e("TRITON_ENABLE_MACA_OPT_MOVE_DOT_OPERANDS_OUT_LOOP", "mcTriton dot-operand hoisting",
       _MCTRITON, "mcTriton compiler.py: Python truthiness of os.getenv",
       "Python truthiness: any non-empty string (0 and false included) enables",
       "not enabled", "1",
       "Enables mcTriton's pass that moves dot operands out of loops. mcTriton tests the "
       "string's truthiness, so 0 and false ENABLE it; only unset or empty disables.",
       "开启 mcTriton 将 dot 操作数移出循环的优化。mcTriton 按 Python 字符串真值判断，"
       "因此 0、false 也会“开启”；只有不设置或设为空字符串才关闭。",
       parse=_value_only(partial(flags.python_truthy_flag,
                                 what="dot-operand hoisting enabled"))),
    _e("TRITON_ENABLE_MACA_CHAIN_DOT_OPT", "mcTriton chained-dot optimisation", _MCTRITON,
       _MCTRITON_SRC, _CLOSED, "mcTriton's default", "1",
       "Enables mcTriton's optimisation of chains of dot operations; how the value is "
       "parsed is not confirmed.",
       "开启 mcTriton 对连续 dot 运算链的优化；取值解析方式未确认。",
       parse=_value_only(partial(flags.metax_flag, what="chained-dot optimisation"))),
    _e("TRITON_ENABLE_MACA_COMPILER_INT8_OPT", "mcTriton INT8 compiler optimisation",
       _MCTRITON, _MCTRITON_SRC, _CLOSED, "mcTriton's default (on in newer releases)",
       "1", "Enables mcTriton's INT8 code generation optimisations." + _NEWER_DEFAULT_EN,
       "开启 mcTriton 的 INT8 代码生成优化。" + _NEWER_DEFAULT_ZH,
       parse=_value_only(partial(flags.metax_flag, what="INT8 optimisation (may be a no-op "
                                 "on newer mcTriton, where it is on by default)"))),
    _e("TRITON_ENABLE_ELEMENTWISE_PK_FMA_OPT", "mcTriton packed-FMA optimisation",
       _MCTRITON, _MCTRITON_SRC, _CLOSED, "mcTriton's default (on in newer releases)",
       "True", "Enables mcTriton's packed fused multiply-add for element-wise code."
       + _NEWER_DEFAULT_EN,
       "开启 mcTriton 对逐元素运算使用打包（packed）FMA 指令的优化。" + _NEWER_DEFAULT_ZH,
       parse=_value_only(partial(flags.metax_flag, what="packed-FMA optimisation (may be a "
                                 "no-op on newer mcTriton, where it is on by default)"))),
    _e("FUSED_RMSNORM_QUANT", "Fused RMSNorm + quantisation", "MetaX inference stack "
       "(reader not public)", "MetaX configs", _CLOSED, "the reader's default",
       "False",
       "Named for a fused RMSNorm-plus-quantisation kernel in MetaX's inference stack; "
       "which component reads it and how is not public (UNCONFIRMED).",
       "以 RMSNorm 与量化融合算子命名的 MetaX 推理栈开关；由哪个组件读取、如何解析均未公开"
       "（未确认）。",
       parse=_value_only(partial(flags.metax_flag, what="fused RMSNorm+quant"))),
    # --- Search paths ---------------------------------------------------------------------
    _e("LD_LIBRARY_PATH", "Shared library search path", "glibc's dynamic loader (ld.so)",
       "ld.so(8); glibc elf/dl-load.c", "split on ':' and ';'; an empty entry is the current "
       "directory; $ORIGIN/$LIB/$PLATFORM expanded; an entirely empty value is ignored",
       "only DT_RUNPATH, /etc/ld.so.cache and the system directories", None,
       "Directories the dynamic loader searches first for shared libraries; MetaX images "
       "put /opt/mxdriver/lib and $MACA_PATH/lib (and mxgpu_llvm, ompi, ucx) here.",
       "动态链接器优先搜索共享库的目录列表；MetaX 镜像会把 /opt/mxdriver/lib、"
       "$MACA_PATH/lib（以及 mxgpu_llvm、ompi、ucx）加入其中。空条目表示当前目录。"),
    _e("PATH", "Program search path", "execvp and every shell", "POSIX execvp",
       "split on ':'; an empty entry is the current directory",
       "the C library's default (/bin:/usr/bin)", None,
       "Directories searched for programs (mx-smi, mxcc, python, the C compiler Triton "
       "needs).",
       "查找可执行程序的目录列表（mx-smi、mxcc、python 以及 Triton 需要的 C 编译器等）。"
       "空条目表示当前目录。"),
    _e("PYTHONPATH", "Python module search path", "CPython", "CPython getpath",
       "split on ':'; each entry made absolute (an empty one is the current directory); an "
       "empty value is ignored", "only the interpreter's own paths", None,
       "Extra directories placed before site-packages on sys.path; a stale entry can shadow "
       "the installed sglang, torch or triton.",
       "放在 site-packages 之前的额外 Python 模块目录；过时的条目可能遮蔽已安装的 "
       "sglang、torch 或 triton。"),
    # --- Rust toolchain mirrors -------------------------------------------------------------
    _e("RUSTUP_DIST_SERVER", "rustup distribution mirror", "rustup", "rustup documentation",
       "an http(s) base URL; used only when rustup installs or updates toolchains",
       "https://static.rust-lang.org", None,
       "Base URL rustup downloads Rust toolchains from (a mirror such as a domestic one). "
       "It matters only while building or updating, never for serving.",
       "rustup 下载 Rust 工具链所用的镜像基础 URL（例如国内镜像）。只在构建或更新工具链时"
       "起作用，与推理服务运行无关。",
       parse=_value_only(partial(parse_base_url, default="https://static.rust-lang.org"))),
    _e("RUSTUP_UPDATE_ROOT", "rustup self-update mirror", "rustup", "rustup documentation",
       "an http(s) base URL; used only when rustup updates itself",
       "https://static.rust-lang.org/rustup", None,
       "Base URL rustup fetches its own updates from; only used by rustup self-update and "
       "the installer.",
       "rustup 自身更新所用的基础 URL；只在 rustup 自更新或安装时使用。",
       parse=_value_only(partial(parse_base_url,
                                 default="https://static.rust-lang.org/rustup"))),
    # --- Dynamo: etcd -------------------------------------------------------------------
    _e("ETCD_ENDPOINTS", "etcd endpoints", "NVIDIA Dynamo runtime",
       "ai-dynamo/dynamo lib/runtime/src/transports/etcd.rs",
       "split on ',' with NO trimming; http:// added when no scheme (https:// with TLS "
       "options)", "http://localhost:2379", None,
       "The etcd cluster Dynamo uses for service discovery and leases (TTL 10 s). Needed "
       "only when DYN_DISCOVERY_BACKEND is etcd, the default.",
       "Dynamo 用于服务发现和租约（TTL 10 秒）的 etcd 地址列表（逗号分隔，不去除空格）。"
       "仅在 DYN_DISCOVERY_BACKEND 为 etcd（默认）时需要。",
       "etcd.endpoints"),
    _e("ETCD_AUTH_USERNAME", "etcd user name", "NVIDIA Dynamo runtime", "dynamo etcd.rs",
       "used together with ETCD_AUTH_PASSWORD", "no password authentication", None,
       "User name for etcd password authentication (needs ETCD_AUTH_PASSWORD too).",
       "etcd 用户名密码认证的用户名（须同时设置 ETCD_AUTH_PASSWORD）。", "etcd.endpoints"),
    _e("ETCD_AUTH_PASSWORD", "etcd password", "NVIDIA Dynamo runtime", "dynamo etcd.rs",
       "used together with ETCD_AUTH_USERNAME", "no password authentication", None,
       "Password for etcd authentication. Secret: never shown.",
       "etcd 认证密码。属于机密，永不显示。", "etcd.endpoints", secret=True),
    _e("ETCD_AUTH_CA", "etcd CA certificate", "NVIDIA Dynamo runtime", "dynamo etcd.rs",
       "PEM text (starts with -----BEGIN) or a file path; TLS needs all three ETCD_AUTH_CA, "
       "_CLIENT_CERT, _CLIENT_KEY", "no TLS client setup", None,
       "CA certificate that signs the etcd server certificate (PEM text or a path).",
       "签发 etcd 服务器证书的 CA 证书（PEM 文本或文件路径）。", "etcd.endpoints"),
    _e("ETCD_AUTH_CLIENT_CERT", "etcd client certificate", "NVIDIA Dynamo runtime",
       "dynamo etcd.rs", "PEM text or a file path", "no TLS client setup", None,
       "Client certificate for mutual TLS with etcd (PEM text or a path).",
       "与 etcd 双向 TLS 认证的客户端证书（PEM 文本或文件路径）。", "etcd.endpoints"),
    _e("ETCD_AUTH_CLIENT_KEY", "etcd client key", "NVIDIA Dynamo runtime", "dynamo etcd.rs",
       "PEM text or a file path", "no TLS client setup", None,
       "Private key of the etcd client certificate. Secret: never shown.",
       "etcd 客户端证书的私钥。属于机密，永不显示。", "etcd.endpoints", secret=True),
    _e("DYN_DISCOVERY_BACKEND", "Dynamo discovery backend", "NVIDIA Dynamo runtime",
       "dynamo lib/runtime", "etcd | kubernetes | file (uses DYN_FILE_KV) | mem", "etcd", None,
       "Where Dynamo registers and discovers workers; etcd.endpoints is skipped for any "
       "backend other than etcd.",
       "Dynamo 注册与发现 worker 的后端（etcd、kubernetes、file、mem）；"
       "非 etcd 时不检查 etcd。", "etcd.endpoints"),
    # --- Dynamo: NATS ---------------------------------------------------------------------
    _e("NATS_SERVER", "NATS servers", "NVIDIA Dynamo runtime",
       "ai-dynamo/dynamo lib/runtime/src/transports/nats.rs",
       "split on ','; every entry must start with nats:// (tls:// is rejected)",
       "nats://localhost:4222", None,
       "The NATS server(s) Dynamo uses for messaging; JetStream must be enabled on them or "
       "Dynamo fails with 'JetStream not available'.",
       "Dynamo 使用的 NATS 服务器（逗号分隔，必须以 nats:// 开头）；服务器必须开启 "
       "JetStream，否则 Dynamo 报 'JetStream not available'。", "nats.server"),
    _e("NATS_AUTH_USERNAME", "NATS user name", "NVIDIA Dynamo runtime", "dynamo nats.rs",
       "used together with NATS_AUTH_PASSWORD (tried first)", "no user/password", None,
       "User name for NATS authentication (with NATS_AUTH_PASSWORD).",
       "NATS 用户名认证的用户名（与 NATS_AUTH_PASSWORD 一起使用）。", "nats.server"),
    _e("NATS_AUTH_PASSWORD", "NATS password", "NVIDIA Dynamo runtime", "dynamo nats.rs",
       "used together with NATS_AUTH_USERNAME", "no user/password", None,
       "Password for NATS authentication. Secret: never shown.",
       "NATS 认证密码。属于机密，永不显示。", "nats.server", secret=True),
    _e("NATS_AUTH_TOKEN", "NATS token", "NVIDIA Dynamo runtime", "dynamo nats.rs",
       "tried after user/password", "no token", None,
       "Token for NATS authentication. Secret: never shown.",
       "NATS 令牌认证。属于机密，永不显示。", "nats.server", secret=True),
    _e("NATS_AUTH_NKEY", "NATS NKey seed", "NVIDIA Dynamo runtime", "dynamo nats.rs",
       "tried after the token", "no NKey", None,
       "NKey seed for NATS authentication. Secret: never shown.",
       "NATS NKey 认证种子。属于机密，永不显示。", "nats.server", secret=True),
    _e("NATS_AUTH_CREDENTIALS_FILE", "NATS credentials file", "NVIDIA Dynamo runtime",
       "dynamo nats.rs", "a path to a .creds file; tried last", "no credentials file",
       None, "Path of a NATS .creds file (JWT + NKey). Treated as secret, never shown.",
       "NATS .creds 凭据文件路径（JWT + NKey）。按机密处理，不显示。", "nats.server",
       secret=True),
    _e("NATS_TLS_CA_CERT_PATH", "NATS CA certificate", "NVIDIA Dynamo runtime",
       "dynamo nats.rs", "a file path", "system roots", None,
       "CA certificate used to verify the NATS server.",
       "用于校验 NATS 服务器证书的 CA 证书路径。", "nats.server"),
    _e("NATS_TLS_CLIENT_CERT_PATH", "NATS client certificate", "NVIDIA Dynamo runtime",
       "dynamo nats.rs", "a file path", "no client certificate", None,
       "Client certificate for mutual TLS with NATS.",
       "与 NATS 双向 TLS 认证的客户端证书路径。", "nats.server"),
    _e("NATS_TLS_CLIENT_KEY_PATH", "NATS client key", "NVIDIA Dynamo runtime",
       "dynamo nats.rs", "a file path", "no client key", None,
       "Private key of the NATS client certificate. Treated as secret, never shown.",
       "NATS 客户端证书私钥路径。按机密处理，不显示。", "nats.server", secret=True),
    _e("NATS_TLS_INSECURE", "NATS TLS verification off", "NVIDIA Dynamo runtime",
       "dynamo nats.rs", "a boolean", "certificates are verified", None,
       "Turns off verification of the NATS server certificate.",
       "关闭对 NATS 服务器证书的校验。", "nats.server"),
    _e("DYN_REQUEST_PLANE", "Dynamo request plane", "NVIDIA Dynamo runtime",
       "dynamo lib/runtime (newer releases)", "tcp | nats | …", "tcp", None,
       "Transport for requests between Dynamo components; NATS is needed only when this "
       "or DYN_EVENT_PLANE selects it (older releases always used NATS).",
       "Dynamo 组件间请求传输方式（默认 tcp）；只有它或 DYN_EVENT_PLANE 选择 NATS 时才"
       "需要 NATS（旧版本总是使用 NATS）。", "nats.server"),
    _e("DYN_EVENT_PLANE", "Dynamo event plane", "NVIDIA Dynamo runtime",
       "dynamo lib/runtime (newer releases)", "nats | …", "the release's default", None,
       "Transport for Dynamo's events (KV cache events, metrics); decides with "
       "DYN_REQUEST_PLANE whether NATS is used.",
       "Dynamo 事件（KV cache 事件、指标等）的传输方式；与 DYN_REQUEST_PLANE 一起决定"
       "是否使用 NATS。", "nats.server"),
    # --- Dynamo logging -----------------------------------------------------------------
    _e("DYN_LOG", "Dynamo log filter", "NVIDIA Dynamo runtime",
       "ai-dynamo/dynamo lib/runtime/src/logging.rs (tracing EnvFilter)",
       "comma-separated directives 'level' or 'target=level' (levels trace, debug, info, "
       "warn, error, off); invalid ones are dropped; no global level silences other "
       "targets", "info", "info",
       "Dynamo's log filter, read once at start-up. 'warning' is not a level (it becomes a "
       "target name) and a filter of targets only silences everything else.",
       "Dynamo 的日志过滤规则（启动时读取一次）：逗号分隔的 'level' 或 'target=level'。"
       "'warning' 不是合法级别（会被当作 target 名）；只写 target 会让其他模块全部静默。",
       parse=_value_only(dynlog.parse_dyn_log)),
    _e("DYN_LOGGING_JSONL", "Dynamo JSON-lines logs", "NVIDIA Dynamo runtime",
       "dynamo lib/runtime/src/config.rs", "true for 1|true|on|yes (case-insensitive), else "
       "false", "false", None,
       "Makes Dynamo write its logs as JSON lines instead of text.",
       "让 Dynamo 以 JSON Lines 格式输出日志（仅 1/true/on/yes 为真）。",
       parse=_value_only(flags.dynamo_bool)),
    # --- PyTorch ------------------------------------------------------------------------
    _e("PYTORCH_ENABLE_PG_HIGH_PRIORITY_STREAM", "High-priority process-group streams",
       "MetaX PyTorch build (not upstream PyTorch)", "MetaX configs; upstream's twin is "
       "TORCH_NCCL_HIGH_PRIORITY", "a PyTorch boolean: y|yes|1|t|true|n|no|0|f|false, "
       "anything else raises (assumed, UNCONFIRMED for the MetaX build)",
       "normal-priority streams", "1",
       "Asks the process group to run collectives on high-priority GPU streams. Found only "
       "in MetaX configs; upstream PyTorch reads TORCH_NCCL_HIGH_PRIORITY instead.",
       "让进程组（ProcessGroup）的集合通信使用高优先级 GPU 流。仅见于 MetaX 配置；"
       "上游 PyTorch 对应的变量是 TORCH_NCCL_HIGH_PRIORITY。",
       parse=_value_only(flags.pytorch_bool)),
    _e("TORCHDYNAMO_DISABLE", "TorchDynamo off (legacy name)", "nobody in upstream PyTorch",
       "pytorch torch/_dynamo/config.py reads TORCH_COMPILE_DISABLE",
       "not read upstream; see TORCH_COMPILE_DISABLE", "TorchDynamo enabled", "1",
       "Meant to turn TorchDynamo (torch.compile) off, but upstream PyTorch does not read "
       "this name; TORCH_COMPILE_DISABLE=1 does. A MetaX build may read it (UNCONFIRMED).",
       "本意是关闭 TorchDynamo（torch.compile），但上游 PyTorch 并不读取这个名字，"
       "应使用 TORCH_COMPILE_DISABLE=1；MetaX 版本是否读取未确认。",
       parse=_torchdynamo, reads=("TORCH_COMPILE_DISABLE",)),
    _e("TORCH_COMPILE_DISABLE", "torch.compile off", "PyTorch",
       "pytorch torch/_dynamo/config.py", "newer releases: disabled only for exactly 1; "
       "older releases: any non-empty value (0 included) disables", "torch.compile enabled",
       None, "Turns torch.compile / TorchDynamo off. Use exactly 1: other values mean "
       "different things in different PyTorch releases.",
       "关闭 torch.compile / TorchDynamo。请只用 1：其他取值在不同 PyTorch 版本中含义不同"
       "（旧版本中任何非空值，包括 0，都会关闭）。",
       parse=_value_only(flags.torch_compile_disable)),
]

CATALOGUE: dict[str, Entry] = {entry.name: entry for entry in _ENTRIES}

# Closed families: a set name with one of these prefixes that is no member is a typo.
FAMILIES = ("ETCD_AUTH_", "NATS_AUTH_", "NATS_TLS_", "SGLANG_EXPERT_DISTRIBUTION_")


def lookup(name: str) -> Entry | None:
    """The entry for ``name``; an exact match first, then the upper-case spelling."""
    return CATALOGUE.get(name) or CATALOGUE.get(name.upper())


def entries() -> Iterator[Entry]:
    """All entries, in catalogue order (seed variables first, by topic)."""
    return iter(_ENTRIES)


def explain_text(entry: Entry, lang: str = "en") -> str:
    """A plain-text rendering of one entry, for ``sgdoctor explain VAR``."""
    zh = lang == "zh"
    rows = [
        (entry.name, entry.meaning(lang)),
        ("读取者" if zh else "Read by", f"{entry.consumer} ({entry.source})"),
        ("解析规则" if zh else "Parsed as", entry.rule),
        ("默认" if zh else "Default", entry.default),
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
