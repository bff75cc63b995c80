#!/usr/bin/env bash
# The hosted pages' translations (identity/i18n.py; README, "Languages"), with Babel's pybabel.
#   ./scripts/translations.sh update       # after changing a page's text: every catalog gains the new strings
#                                          # (untranslated, so tests/identity/test_i18n.py fails until done)
#   ./scripts/translations.sh add fr       # a new language: its catalog, to translate; it is served once there
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYBABEL=${PYBABEL:-$ROOT/.venv/bin/pybabel}
LOCALES=identity/locales
POT=$(mktemp --suffix=.pot)
trap 'rm -f "$POT"' EXIT
cd "$ROOT"
"$PYBABEL" extract -F "$LOCALES/babel.cfg" -k N_ --no-location --sort-output --project identity-platform \
  -o "$POT" . >/dev/null
case ${1:-} in
  update) "$PYBABEL" update -i "$POT" -d "$LOCALES" --no-fuzzy-matching --ignore-obsolete \
            --width 110 ;;
  add) [[ -n ${2:-} ]] || { echo "usage: $0 add LANG" >&2; exit 2; }
       "$PYBABEL" init -i "$POT" -d "$LOCALES" -l "$2" --no-wrap ;;
  *) sed -n '2,6p' "$0"; exit 2 ;;
esac
