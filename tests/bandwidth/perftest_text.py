"""perftest's ib_write_bw text, as the doubles print it (no heavy imports: the real-process
stand-in imports this too).

The layout follows the real recordings in tests/fixtures/outputs/ib_write_bw (the OCI client
output: header block, address/GID lines, the ``#bytes ... BW average[Gb/sec]`` table); the
failure texts are perftest's own signature lines quoted in bandwidth-practice.md §5.
"""

from __future__ import annotations


def _gid_text(ip: str) -> str:
    return "00:00:00:00:00:00:00:00:00:00:255:255:" + ":".join(f"{int(o):02d}" for o in ip.split("."))


def header(device: str, qps: int, gid: int | None, mtu: int = 4096, link: str = "Ethernet") -> str:
    gid_line = f" GID index       : {gid}\n" if gid is not None else ""
    return ("---------------------------------------------------------------------------------------\n"
            "                    RDMA_Write BW Test\n"
            f" Dual-port       : OFF\t\tDevice         : {device}\n"
            f" Number of qps   : {qps}\t\tTransport type : IB\n"
            " Connection type : RC\t\tUsing SRQ      : OFF\n"
            " PCIe relax order: ON\n"
            " TX depth        : 128\n"
            " CQ Moderation   : 1\n"
            f" Mtu             : {mtu}[B]\n"
            f" Link type       : {link}\n"
            f"{gid_line}"
            " Max inline data : 0[B]\n"
            " rdma_cm QPs\t : OFF\n"
            " Data ex. method : Ethernet\n"
            "---------------------------------------------------------------------------------------\n")


def addresses(local_ip: str, remote_ip: str) -> str:
    return (f" local address: LID 0000 QPN 0x0093 PSN 0xbf9bfe RKey 0x203e00 VAddr 0x007f9fc479c000\n"
            f" GID: {_gid_text(local_ip)}\n"
            f" remote address: LID 0000 QPN 0x0094 PSN 0x62655e RKey 0x204f00 VAddr 0x007fe62504b000\n"
            f" GID: {_gid_text(remote_ip)}\n"
            "---------------------------------------------------------------------------------------\n")


def report(gbps: float, size: int, duration: int) -> str:
    msgs = gbps * 1e9 / 8 / size
    return (" #bytes     #iterations    BW peak[Gb/sec]    BW average[Gb/sec]   MsgRate[Mpps]\n"
            f" {size:<7}    {int(msgs * duration):<10}       0.00               {gbps:<7.2f}\t\t     {msgs / 1e6:.6f}\n"
            "---------------------------------------------------------------------------------------\n")


BANNER = ("************************************\n"
          "* Waiting for client to connect... *\n"
          "************************************\n")
PEAK_WARNING = " WARNING: BW peak won't be measured in this run.\n"
MTU_FALLBACK = "Requested mtu is higher than active mtu \nChanging to active mtu - 3\n"

# Failure texts: the signature lines of bandwidth-practice.md §5 (perftest's own strings).
FAILURES: dict[str, tuple[str, int]] = {
    "no_device": ("IB device mlx5_9 not found\n Unable to find the Infiniband/RoCE device\n", 1),
    "port_down": (" Port number 1 state is Down\n Couldn't set up connection\n", 1),
    "empty_gid": (" local address: LID 0000 QPN 0x0093 PSN 0xbf9bfe\n"
                  " GID: 00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00\n"
                  " Unable to Connect the HCA's through the link\n", 1),
    "bad_gid_index": (" Unable to set up socket connection\n", 1),
    "gid_type": (" Found Incompatibility issue with GID types.\n Please Try to use a different IP version.\n", 1),
    "transport": (" Completion with error at client\n Failed status 12: wr_id 0 syndrom 0x81\nscnt=128, ccnt=0\n", 1),
    "connect": ("Couldn't connect to {server}:{port}\n Unable to init the socket connection\n", 1),
    "exchange": (" ethernet_read_keys: Couldn't read remote address\n"
                 " Failed to exchange data between server and clients\n", 1),
    "memlock": (" Couldn't allocate MR\n Couldn't create IB resources\n", 1),
    "version": (" Current implementation is not compatible with versions older than 5.70\n", 1),
    "hang": ("", 124),
}


