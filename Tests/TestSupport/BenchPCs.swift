/// Bash functions for scripts that drive the real daemon as the PCs of the bench do (issue
/// 16: a PC proves it is itself). Each PC is a network namespace of its own whose interface
/// has the PC's MAC, linked to the daemon's namespace (`$ns`): its requests come from its
/// own address, which the daemon's neighbour table ties to that MAC, as a real PC's do. A
/// request from anywhere else (the daemon's own namespace, another PC) proves nothing.
/// Expects `ns` and `base` to be set; the PCs' namespaces are deleted when the script exits.
public enum BenchPCs {
    public static let functions = """
        pcs=0
        declare -A pcns pcip token
        trap 'for n in "${pcns[@]}"; do ip netns delete "$n" 2>/dev/null; done' EXIT
        # pc MAC: a PC with this MAC, at 10.98.N.2 on a link of its own to the daemon (10.98.N.1).
        pc() {
            local mac=$1 n name
            pcs=$((pcs + 1)); n=$pcs; name="$ns-pc$n"
            ip netns add "$name"
            ip -n "$ns" link add "pc$n" type veth peer name eth0 netns "$name"
            ip -n "$name" link set eth0 address "$mac"
            ip -n "$ns" addr add "10.98.$n.1/24" dev "pc$n"; ip -n "$ns" link set "pc$n" up
            ip -n "$name" link set lo up
            ip -n "$name" addr add "10.98.$n.2/24" dev eth0; ip -n "$name" link set eth0 up
            ip -n "$name" route add default via "10.98.$n.1"
            pcns[$mac]=$name; pcip[$mac]=10.98.$n.2
        }
        # on MAC COMMAND…: run as that PC.
        on() { local mac=$1; shift; ip netns exec "${pcns[$mac]}" "$@"; }
        # pcget MAC PATH: the PC's own HTTP request.
        pcget() { on "$1" curl -s "$base/$2"; }
        # install MAC [ENTRY]: the installer's start as the PC makes it: the entry script
        # (its preseed URL carries a new install token), then the preseed with that token.
        install() {
            local mac=$1 entry=${2:-debian-13-auto} script
            script=$(pcget "$mac" "boot/$entry.ipxe?mac=$mac&platform=efi")
            token[$mac]=$(printf '%s' "$script" | grep -o 'token=[0-9a-f]*' | head -n 1 | cut -d= -f2)
            [ -n "${token[$mac]}" ] || echo "no install token for $mac in: $script"
            pcget "$mac" "preseed/$entry.cfg?mac=$mac&token=${token[$mac]}" >/dev/null
        }
        # report MAC STAGE: a progress call of the PC's installer, with its token.
        report() { pcget "$1" "progress?mac=$1&stage=$2&token=${token[$1]}"; }
        # syslog MAC LINE: one installer syslog datagram from that PC to the daemon.
        syslog() {
            on "$1" python3 -c 'import socket, sys
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.sendto(sys.argv[1].encode(), ("10.99.0.1", int(sys.argv[2])))' "$2" "${syslog_port:-514}"
        }
        # admin METHOD PATH [TOKEN]: a request with the admin token (default: the daemon's own, from $state).
        admin() { ip netns exec "$ns" curl -s -o /dev/null -w '%{http_code}\\n' -X "$1" -H "Authorization: Bearer ${3:-$(cat "$state/admin-token")}" "$base/$2"; }
        """
}
