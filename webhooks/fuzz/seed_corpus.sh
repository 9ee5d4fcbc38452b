#!/usr/bin/env bash
# Seed corpus/github and corpus/gitlab from the shared fixtures: each file is the
# fixture's body prefixed with the byte that makes the target pick the fixture's event
# header (its index in the target's EVENTS list).
set -euo pipefail
cd "$(dirname "$0")"
fixtures="${GT_FIXTURES:-../../../shared/fixtures}"
[ -d "$fixtures" ] || { echo "no fixtures at $fixtures (set GT_FIXTURES)" >&2; exit 1; }

# index_of TARGET EVENT: position of "EVENT" in fuzz_targets/TARGET.rs's EVENTS list,
# or of "" (the catch-all) when it is not listed.
index_of() {
    awk -v want="$2" '
        /^const EVENTS/ { on = 1; next }
        on && /^\];/ { exit }
        on { gsub(/^ *"|",$/, ""); if ($0 == want) { print n; found = 1; exit } if ($0 == "") empty = n; n++ }
        END { if (!found) print empty }
    ' "fuzz_targets/$1.rs"
}

seed() { # TARGET EVENT FILE NAME
    local i
    i=$(index_of "$1" "$2")
    { printf "\\$(printf '%03o' "$i")"; cat "$3"; } > "corpus/$1/$4"
}

mkdir -p corpus/github corpus/gitlab
for f in "$fixtures"/github/*/*.json; do
    event=$(basename "$(dirname "$f")")
    seed github "$event" "$f" "$event-$(basename "$f")"
done

gitlab_event() { # per gitlab/SOURCES.md
    case "$1" in
        systemhooks/*) echo "System Hook" ;;
        push.json) echo "Push Hook" ;;
        tag_push.json) echo "Tag Push Hook" ;;
        issue.json) echo "Issue Hook" ;;
        note_*) echo "Note Hook" ;;
        merge_request.json | group_merge_request.json | service_merge_request.json) echo "Merge Request Hook" ;;
        pipeline.json) echo "Pipeline Hook" ;;
        job.json | build.json) echo "Job Hook" ;;
        *) echo "" ;;
    esac
}
(cd "$fixtures/gitlab" && find . -name '*.json' | sed 's|^\./||') | while read -r rel; do
    seed gitlab "$(gitlab_event "$rel")" "$fixtures/gitlab/$rel" "${rel//\//-}"
done
echo "seeded $(ls corpus/github | wc -l) github and $(ls corpus/gitlab | wc -l) gitlab inputs"
