# rdma-preflight collector, stream format 1.
# Gathers, in ONE execution, every command output and file the checks read, and prints
# them as one stream on stdout. Needs only a POSIX sh and coreutils (+ grep) on the node;
# a missing tool is recorded as "missing", never an error.
# Usage: sh -s -- NONCE [OPTS [SECONDS]]    (script text on stdin or via sh -c)
# OPTS: "" or "mlxconfig"; SECONDS: the per-command timeout (Timeouts.command; the runner
# always passes it, the built-in value below is only for callers that do not).
# Every record starts on a new line with "<NONCE> <kind> <key>"; the body follows up to the
# newline that precedes the next record. The nonce is random per run, so no file content can
# forge a record. The stream ends with "<NONCE> end": a stream without it was truncated.
# Names read from the host (interfaces, devices) are only ever passed as quoted arguments.
N="$1"
OPTS="$2"
CT="${3:-20}"
case "$N" in ''|*[!A-Za-z0-9]*) echo "collector: bad nonce" >&2; exit 64;; esac
case "$CT" in ''|*[!0-9]*|0*) echo "collector: bad command timeout" >&2; exit 64;; esac
LC_ALL=C; export LC_ALL
PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH"; export PATH
T=$(mktemp -d 2>/dev/null || echo /tmp/rpf.$$)
mkdir -p "$T" 2>/dev/null
trap 'rm -rf "$T"' EXIT INT TERM
TO=""
command -v timeout >/dev/null 2>&1 && TO="timeout $CT"
# a tool that ignores SIGTERM (or is stuck in a driver) is KILLed 2 s later, where the
# node's timeout supports -k (coreutils; recent busybox), so it cannot hold the whole run
[ -n "$TO" ] && timeout -k 2 5 true >/dev/null 2>&1 && TO="timeout -k 2 $CT"
MAX=1048576

rec() { printf '\n%s %s %s\n' "$N" "$1" "$2"; }

# run NAME TOOL ARGS... : one command record (stdout, capped), its exit code and stderr
run() {
  name="$1"; shift
  if ! command -v "$1" >/dev/null 2>&1; then rec missing "$1"; return 0; fi
  $TO "$@" >"$T/out" 2>"$T/err" </dev/null
  rc=$?
  rec cmd "$name"; head -c "$MAX" "$T/out"
  rec rc "$name"; printf '%s' "$rc"
  if [ -s "$T/err" ]; then rec err "$name"; head -c 4096 "$T/err"; fi
}

# file PATH... : exact bytes of each readable regular file
file() {
  for f in "$@"; do
    case "$f" in *'
'*) continue;; esac
    [ -f "$f" ] || continue
    if [ -r "$f" ]; then rec file "$f"; head -c "$MAX" -- "$f" 2>/dev/null || { rec ferr "$f"; printf 'unreadable'; }; fi
  done
}

# attrs PATH... : many small attribute files (sysfs/procfs) in one grep: "path\0line"
attrs() {
  [ "$#" -gt 0 ] || return 0
  rec attrs "grep"
  grep -HsZ . -- "$@" 2>/dev/null | head -c "$MAX"
}

# link PATH... : symlink targets, resolved (sysfs device links)
link() {
  for l in "$@"; do
    [ -e "$l" ] || [ -L "$l" ] || continue
    rec link "$l"; readlink -f -- "$l" 2>/dev/null
  done
}

printf 'RPF-STREAM 1 %s\n' "$N"
rec meta collector_version; printf '1'
rec meta uid; id -u 2>/dev/null
rec meta date; date -u +%Y-%m-%dT%H:%M:%SZ 2>/dev/null
rec meta kernel; uname -r 2>/dev/null
rec meta opts; printf '%s' "$OPTS"
rec meta command_timeout; printf '%s' "$CT"
file /proc/sys/kernel/hostname /etc/os-release /proc/cmdline /proc/modules /proc/devices
file /sys/class/dmi/id/product_serial /sys/class/dmi/id/product_name /sys/class/dmi/id/sys_vendor /sys/class/dmi/id/bios_version

# --- network (ip -j is the machine format; live targets also read netlink directly)
run ip_link ip -j -d link show
run ip_addr ip -j addr show
run ip_rule ip -j -4 rule show
run ip_route ip -j -4 route show table all
for d in /sys/class/net/*; do
  [ -e "$d" ] || continue
  i=${d##*/}
  attrs "$d/mtu" "$d/operstate" "$d/address" "$d/type" "$d/ifindex" "$d/carrier" "$d/speed" \
        "$d/mode" "$d/dev_port" "$d/phys_port_name" "$d/device/sriov_numvfs" "$d/device/sriov_totalvfs" \
        "/proc/sys/net/ipv4/conf/$i/rp_filter" "/proc/sys/net/ipv4/conf/$i/arp_ignore" \
        "/proc/sys/net/ipv4/conf/$i/arp_announce"
  link "$d/device" "$d/device/driver" "$d/device/physfn"
  if [ -d "$d/ecn" ]; then
    attrs "$d"/ecn/roce_np/enable/* "$d"/ecn/roce_rp/enable/* "$d/ecn/roce_np/cnp_dscp"
    run "mlnx_qos/$i" mlnx_qos -i "$i"
  fi
  if [ -e "$d/device/infiniband" ] || [ -d "$d/ecn" ]; then
    run "ethtool_S/$i" ethtool -S "$i"
  fi
done
attrs /proc/sys/net/ipv4/conf/all/rp_filter /proc/sys/net/ipv4/conf/all/arp_ignore \
      /proc/sys/net/ipv4/conf/all/arp_announce /proc/sys/net/ipv4/conf/default/rp_filter \
      /proc/sys/net/ipv4/tcp_ecn
file /etc/netplan/*.yaml /etc/NetworkManager/dispatcher.d/* \
     /etc/systemd/system/rdma-routing.service /etc/systemd/system/rdma-qos.service
for u in rdma-routing.service rdma-qos.service; do
  run "systemctl_enabled/$u" systemctl is-enabled "$u"
  run "systemctl_active/$u" systemctl is-active "$u"
done

# --- RDMA stack
file /sys/module/ib_core/parameters/netns_mode
for m in mlx5_core mlx5_ib ib_core ib_uverbs rdma_ucm rdma_cm ib_ipoib nvidia nvidia_peermem nv_peer_mem gdrdrv mlx_compat; do
  file "/sys/module/$m/version"
done
file /etc/modprobe.d/*.conf /lib/modprobe.d/*.conf /usr/lib/modprobe.d/*.conf /run/modprobe.d/*.conf
for d in /sys/class/infiniband/*; do
  [ -e "$d" ] || continue
  attrs "$d/node_guid" "$d/sys_image_guid" "$d/fw_ver" "$d/hca_type" "$d/board_id" "$d/node_type" \
        "$d"/tc/*/traffic_class
  link "$d/device"
  for p in "$d"/ports/*; do
    [ -e "$p" ] || continue
    attrs "$p/state" "$p/phys_state" "$p/rate" "$p/link_layer" "$p/lid" "$p/sm_lid" "$p/lid_mask_count" "$p/cap_mask"
    attrs "$p"/gids/* "$p"/gid_attrs/types/* "$p"/gid_attrs/ndevs/*
  done
done
run rdma_system rdma system show
run rdma_system_json rdma -j system show
run rdma_link rdma link show
run rdma_link_json rdma -j link show
run ibstat ibstat
run ibv_devinfo ibv_devinfo
run ibdev2netdev ibdev2netdev
run ofed_info ofed_info -s
# rdma_cm default ToS lives in configfs; the device dir must exist to be read. We create it
# only if absent and remove it again (what cma_roce_tos itself does).
if [ -d /sys/kernel/config/rdma_cm ]; then
  for d in /sys/class/infiniband/*; do
    [ -e "$d" ] || continue
    dev=${d##*/}; c="/sys/kernel/config/rdma_cm/$dev"; made=""
    if [ ! -d "$c" ]; then mkdir "$c" 2>/dev/null && made=1; fi
    attrs "$c"/ports/*/default_roce_tos "$c"/ports/*/default_roce_mode
    [ -n "$made" ] && rmdir "$c" 2>/dev/null
  done
fi
if [ "$OPTS" = "mlxconfig" ] && command -v mlxconfig >/dev/null 2>&1; then
  for d in /sys/class/infiniband/*; do
    [ -e "$d/device" ] || continue
    bdf=$(basename "$(readlink -f "$d/device")")
    run "mlxconfig/$bdf" mlxconfig -e -d "$bdf" q
  done
fi

# --- lossless RoCE through iproute2 dcb (issue 5 block): hosts without MLNX_OFED's mlnx_qos
# read PFC and the DSCP APP table with dcb; netdev names are only passed as quoted arguments.
if ! command -v mlnx_qos >/dev/null 2>&1 && command -v dcb >/dev/null 2>&1; then
  for d in /sys/class/net/*; do
    [ -e "$d/device/infiniband" ] || continue
    i=${d##*/}
    run "dcb_pfc/$i" dcb -j pfc show dev "$i"
    run "dcb_app/$i" dcb -j app show dev "$i"
  done
fi

# --- PCIe, GPU
run lspci_vvv lspci -vvv -D
run lspci_nn lspci -Dnn
rec cmd pci_devices; ls -l /sys/bus/pci/devices/ 2>/dev/null
rec rc pci_devices; printf '0'
attrs /sys/bus/pci/devices/*/class /sys/bus/pci/devices/*/vendor /sys/bus/pci/devices/*/device
run nvidia_smi_topo nvidia-smi topo -m
for dev in /dev/gdrdrv /dev/infiniband/uverbs0; do
  if [ -e "$dev" ]; then rec exists "$dev"; printf 'yes'; fi
done
rec end all
