# Sourced by vm/build_initramfs.sh and vm/update_debs_lock.sh: the Debian
# packages of the initramfs and apt access to a foreign architecture.

# The packages that hold mke2fs and every library it loads (Debian 12:
# libe2p is in libext2fs2), plus the loader's libc6.
initramfs_packages=(e2fsprogs libext2fs2 libcom-err2 libblkid1 libuuid1 libc6)

# apt_for_arch ARCH DIR: when dpkg is not configured for ARCH (amd64 or
# arm64), points APT_CONFIG at a private configuration in DIR that reads
# ARCH's package lists into DIR, and runs apt-get update; the system's apt
# setup is left as it is.
apt_for_arch() {
  local arch=$1 dir=$2
  if [[ "$arch" == "$(dpkg --print-architecture)" ]] || dpkg --print-foreign-architectures | grep -qx "$arch"; then
    return 0
  fi
  mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial"
  cat > "$dir/apt.conf" <<APTCONF
Dir::State::Lists "$dir/lists";
Dir::Cache "$dir/cache";
APT::Architecture "$arch";
APT::Architectures { "$arch"; };
APTCONF
  export APT_CONFIG="$dir/apt.conf"
  echo "apt-get update for $arch (private lists)" >&2
  apt-get update -q >&2
}
