#!/bin/sh
# Post-install script of the workshop, run by the Debian installer's late_command inside
# the freshly installed system (in-target), as root. $1 is the machine's hostname.
# Keep it idempotent: an install can be repeated.
set -eu
hostname="${1:-}"

# The recipient's first login asks for a new password (set in the preseed's late_command).
# Leave a note on the desktop of the default user explaining where the PC comes from.
if [ -d /home/atelier ]; then
    mkdir -p /home/atelier/Bureau
    cat > /home/atelier/Bureau/LISEZMOI.txt <<'NOTE'
Cet ordinateur a été reconditionné par l'atelier.
Au premier démarrage, choisissez un nouveau mot de passe pour le compte « atelier ».
NOTE
    chown -R atelier:atelier /home/atelier/Bureau
fi

# Record when and as what this PC was installed, for the bench's paperwork.
echo "installed $(date -Iseconds) hostname=${hostname}" >> /var/log/atelier-install.log
