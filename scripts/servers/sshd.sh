# OpenSSH sshd from the distribution's packages on 127.0.0.1:PORT, with a generated
# host key, a test user with a key pair and a password, and a known_hosts for clients.
SSHD_USER=trunks-sftp
# A fixed password for a loopback-only throwaway server (not a secret).
SSHD_PASSWORD=trunks-test-sftp-password

install() {
  [ -x /usr/sbin/sshd ] && [ -x /usr/bin/ssh-keygen ] && return 0
  [ "$(id -u)" = 0 ] || die "sshd: not installed; run: sudo apt-get install openssh-server"
  (apt-get install -y openssh-server || { apt-get update && apt-get install -y openssh-server; }) >&2
  [ -x /usr/sbin/sshd ]
}

start() {
  local dir=$1 port=$2 user root sftp_server
  if [ "$(id -u)" = 0 ]; then
    user=$SSHD_USER
    id "$user" >/dev/null 2>&1 || useradd --create-home --shell /bin/sh "$user"
    printf '%s:%s\n' "$user" "$SSHD_PASSWORD" | chpasswd
    mkdir -p /run/sshd
    chmod 755 /run/sshd
  else
    # Unprivileged sshd can only log in as the user running it (key auth).
    user=$(id -un)
  fi
  ssh-keygen -q -t ed25519 -N '' -C trunks-test-host -f "$dir/host_ed25519" || return 1
  ssh-keygen -q -t ed25519 -N '' -C trunks-test-client -f "$dir/client_ed25519" || return 1
  # Owned by the login user: sshd reads authorized_keys as that user.
  local auth
  auth=$(mktemp -d /tmp/trunks-sshd-XXXXXX)
  echo "$auth" >"$dir/authdir"
  cp "$dir/client_ed25519.pub" "$auth/authorized_keys"
  # The storage root the tests use, owned by the login user.
  root="$auth/store"
  mkdir -p "$root"
  chmod 755 "$auth"
  chown -R "$user" "$auth" 2>/dev/null || true
  sftp_server=internal-sftp
  cat >"$dir/sshd_config" <<CFG
Port $port
ListenAddress 127.0.0.1
HostKey $dir/host_ed25519
PidFile $dir/sshd.pid
AuthorizedKeysFile $auth/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication yes
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PermitRootLogin no
AllowUsers $user
MaxSessions 32
MaxStartups 64:30:128
Subsystem sftp $sftp_server
LogLevel ERROR
CFG
  run_bg "$dir" /usr/sbin/sshd -D -e -f "$dir/sshd_config"
  wait_port "$port" 30 || return 1
  printf '[127.0.0.1]:%s %s\n' "$port" "$(cut -d' ' -f1,2 "$dir/host_ed25519.pub")" >"$dir/known_hosts"
  cat >"$dir/env" <<ENV
TRUNKS_TEST_SFTP_URL=sftp://$user@127.0.0.1:$port$root
TRUNKS_TEST_SFTP_KEY=$dir/client_ed25519
TRUNKS_TEST_SFTP_KNOWN_HOSTS=$dir/known_hosts
ENV
  # Only a root sshd can check a password (the test user's, set above).
  [ "$(id -u)" = 0 ] && echo "TRUNKS_TEST_SFTP_PASSWORD=$SSHD_PASSWORD" >>"$dir/env"
  return 0
}

stop() {
  local dir=$1 auth
  auth=$(cat "$dir/authdir" 2>/dev/null) || return 0
  case "$auth" in /tmp/trunks-sshd-*) rm -rf "$auth" ;; esac
}
