"""Packets per second of pcap -> flows + metadata, against tshark on the same packets.

Run: ``python bench/pcap.py`` (from the project root; ``--min-packets`` to change the size,
``--repeat`` for the number of alternating runs of each tool, the best of which is printed).

All corpus pcaps are concatenated (``mergecap -a``) and repeated until the file holds at least
``--min-packets`` packets, so both tools read the same single file and process start-up counts
once. Printed: our rate (read_pcap: flows, DNS, HTTP, TLS with JA3/JA4, SSH, DHCP, ARP), tshark's
rate with ``-T fields`` for the addresses, ports, DNS name, HTTP host and TLS SNI, the ratio,
and the raw reading rate of our pcapng reader against scapy's RawPcapNgReader.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from collectors.pcap import ExtractorStats, read_packets, read_pcap  # noqa: E402

TSHARK_FIELDS = [
    "ip.src",
    "ip.dst",
    "ipv6.src",
    "ipv6.dst",
    "tcp.srcport",
    "tcp.dstport",
    "udp.srcport",
    "udp.dstport",
    "dns.qry.name",
    "http.host",
    "tls.handshake.extensions_server_name",
]


def corpus_pcaps() -> list[Path]:
    """The corpus captures (``$SIEM_CORPUS`` or ../shared/corpus)."""
    corpus = Path(os.environ.get("SIEM_CORPUS", PROJECT.parent / "shared" / "corpus"))
    files = sorted(p for p in (corpus / "pcaps").glob("*/*") if p.suffix in (".pcap", ".pcapng"))
    if not files:
        sys.exit(f"no pcaps under {corpus / 'pcaps'} (set SIEM_CORPUS)")
    return files


def build_input(files: list[Path], min_packets: int, workdir: Path) -> tuple[Path, int]:
    """One pcapng with the corpus repeated to at least ``min_packets`` packets."""
    mergecap = shutil.which("mergecap")
    if mergecap is None:
        sys.exit("mergecap (package wireshark-common / tshark) is needed to build the input")
    once = workdir / "once.pcapng"
    subprocess.run([mergecap, "-a", "-F", "pcapng", "-w", str(once), *map(str, files)], check=True)
    stamps = [packet[0] for packet in read_packets(once)]
    per_copy = len(stamps)
    copies = max(1, -(-min_packets // per_copy))
    # Each copy is shifted in time past the previous one, so it makes new flows, new
    # sessions and new metadata events, as fresh traffic would.
    span = int(max(stamps) - min(stamps)) + 1_000_000
    parts = []
    for index in range(copies):
        part = workdir / f"copy{index}.pcapng"
        subprocess.run(["editcap", "-t", str(index * span), str(once), str(part)], check=True)
        parts.append(str(part))
    big = workdir / "all.pcapng"
    subprocess.run([mergecap, "-a", "-F", "pcapng", "-w", str(big), *parts], check=True)
    return big, per_copy * copies


def time_ours(path: Path) -> tuple[float, ExtractorStats, int]:
    """Seconds to turn the file into events, the extractor's counters, and the event count."""
    stats = ExtractorStats()
    start = time.perf_counter()
    events = sum(1 for _ in read_pcap(path, stats=stats))
    return time.perf_counter() - start, stats, events


def time_tshark(path: Path) -> float:
    """Seconds tshark takes to print the fields of every packet (to /dev/null)."""
    command = ["tshark", "-n", "-r", str(path), "-T", "fields"]
    for name in TSHARK_FIELDS:
        command += ["-e", name]
    start = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def time_readers(path: Path) -> tuple[float, float]:
    """Seconds to read every packet with our reader and with scapy's RawPcapNgReader."""
    from scapy.utils import RawPcapNgReader

    start = time.perf_counter()
    for _packet in read_packets(path):
        pass
    ours = time.perf_counter() - start
    start = time.perf_counter()
    with RawPcapNgReader(str(path)) as reader:
        for _raw in reader:
            pass
    return ours, time.perf_counter() - start


def main() -> None:
    """Build the input, time both tools, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min-packets", type=int, default=300_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each tool; best is kept")
    args = parser.parse_args()
    files = corpus_pcaps()
    with tempfile.TemporaryDirectory(prefix="siem-bench-pcap-") as tmp:
        big, packets = build_input(files, args.min_packets, Path(tmp))
        size_mb = big.stat().st_size / 1e6
        print(
            f"input: {len(files)} corpus pcaps concatenated and repeated: {packets} packets, "
            f"{size_mb:.1f} MB"
        )
        have_tshark = shutil.which("tshark") is not None
        ours_runs, tshark_runs = [], []
        # Alternate the tools and keep the best of each: the machine may be shared.
        for _ in range(args.repeat):
            seconds, stats, events = time_ours(big)
            ours_runs.append(seconds)
            if have_tshark:
                tshark_runs.append(time_tshark(big))
        ours = min(ours_runs)
        print(
            f"siem  read_pcap      {ours:7.2f} s  {packets / ours:10,.0f} packets/s  "
            f"({stats.flows} flows, {events} events; best of {args.repeat})"
        )
        if not have_tshark:
            print("tshark not installed: no ratio")
            return
        theirs = min(tshark_runs)
        print(
            f"tshark -T fields     {theirs:7.2f} s  {packets / theirs:10,.0f} packets/s  "
            f"(best of {args.repeat})"
        )
        print(f"ratio siem/tshark (packets/s): {theirs / ours:.2f}")
        reader, scapy_reader = time_readers(big)
        print(
            f"reader: ours {packets / reader:,.0f} packets/s, scapy RawPcapNgReader "
            f"{packets / scapy_reader:,.0f} packets/s ({scapy_reader / reader:.1f}x)"
        )


if __name__ == "__main__":
    main()
