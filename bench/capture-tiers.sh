#!/bin/sh
# A file source's 720p tier two ways, on fixed 10 s clips (1280x720, 30 fps), without the
# real-time path so bytes and SSIM do not depend on the machine's load (docs/video.md#measured):
#   old: the capture ffmpeg's JPEG frames (-q:v 6, the default quality 80) decoded and encoded by
#        a tier encoder (what an H264Encoder gets), CPU = that encoder process;
#   new: the tier as a second output of the capture ffmpeg, from the decoded pixels, CPU = the
#        capture process with the tier minus the capture process alone.
# SSIM of JPEG and both against the file's own decoded pictures; x264 arguments from
# x264OutputArgs (src/hub/h264-encoder.ts, built: run `npm run build` first).
#
#   sh bench/capture-tiers.sh [rounds]
set -eu
rounds=${1:-2}
dir=$(mktemp -d /tmp/framehub-capture-tiers.XXXXXX)
trap 'rm -rf "$dir"' EXIT
x264=$(node -e "import('./dist/hub/h264-encoder.js').then((m) => console.log(m.x264OutputArgs(2000000, 30).filter((a, i, all) => !['-fps_mode', '-enc_time_base', '-flush_packets', '-f'].includes(a) && !['-fps_mode', '-enc_time_base', '-flush_packets', '-f'].includes(all[i - 1])).join(' ')))")
q() { ffmpeg -hide_banner -loglevel error -y "$@"; }
# CPU seconds (user + system) of one command.
cpu() { /usr/bin/time -f '%U %S' -o "$dir/time" "$@" && awk '{ printf "%.2f", $1 + $2 }' "$dir/time"; }
ssim() { ffmpeg -hide_banner -i "$1" -framerate 30 -i "$2" -lavfi '[0:v]format=yuv420p[a];[1:v]format=yuv420p[b];[a][b]ssim' -f null - 2>&1 | sed -n 's/.*All:\([0-9.]*\).*/\1/p'; }
kib() { echo "$(stat -c %s "$1") / 10 / 1024" | bc -l | xargs printf '%.1f'; }

q -f lavfi -i testsrc=size=1280x720:rate=30:duration=10 -c:v mpeg4 -q:v 2 "$dir/screen.mp4"
q -f lavfi -i testsrc2=size=1280x720:rate=30:duration=10,noise=alls=8:allf=t -c:v mpeg4 -q:v 2 "$dir/camera.mp4"
q -f lavfi -i testsrc=size=1280x720:rate=30:duration=10 -c:v ffv1 "$dir/screen-lossless.mkv"

echo "| clip | JPEG KiB/s (SSIM) | old: from the JPEG, KiB/s (SSIM) | new: from the pixels, KiB/s (SSIM) | JPEG ÷ H.264 old → new | tier CPU old / new (core) |"
echo "| --- | --- | --- | --- | --- | --- |"
for round in $(seq "$rounds"); do
  for clip in screen.mp4 camera.mp4 screen-lossless.mkv; do
    in="$dir/$clip"
    q -i "$in" -pix_fmt yuvj420p -c:v mjpeg -q:v 6 -f mjpeg "$dir/jpeg.mjpeg"
    q -f mjpeg -framerate 30 -i "$dir/jpeg.mjpeg" -f rawvideo -pix_fmt rgb24 "$dir/jpeg.rgb"
    # old: raw RGB from the JPEG into a tier encoder, as H264Encoder runs it
    # shellcheck disable=SC2086
    old_cpu=$(cpu ffmpeg -hide_banner -loglevel error -y -f rawvideo -pix_fmt rgb24 -s 1280x720 -framerate 30 -i "$dir/jpeg.rgb" $x264 -f h264 "$dir/old.h264")
    alone=$(cpu ffmpeg -hide_banner -loglevel error -y -i "$in" -pix_fmt yuvj420p -c:v mjpeg -q:v 6 -f mjpeg "$dir/alone.mjpeg")
    # shellcheck disable=SC2086
    both=$(cpu ffmpeg -hide_banner -loglevel error -y -i "$in" -filter_complex '[0:v]fps=30,split=2[j][t];[t]scale=w=trunc(iw*min(1\,720/ih)/2)*2:h=trunc(ih*min(1\,720/ih)/2)*2[o]' \
      -map '[j]' -fps_mode passthrough -pix_fmt yuvj420p -c:v mjpeg -q:v 6 -f mjpeg "$dir/both.mjpeg" -map '[o]' $x264 -f h264 "$dir/new.h264")
    new_cpu=$(echo "$both - $alone" | bc -l)
    jpeg_kib=$(kib "$dir/jpeg.mjpeg"); old_kib=$(kib "$dir/old.h264"); new_kib=$(kib "$dir/new.h264")
    printf '| %s (round %s) | %s (%s) | %s (%s) | %s (%s) | %.1fx → **%.1fx** | %.2f / %.2f |\n' "$clip" "$round" \
      "$jpeg_kib" "$(ssim "$in" "$dir/jpeg.mjpeg")" "$old_kib" "$(ssim "$in" "$dir/old.h264")" "$new_kib" "$(ssim "$in" "$dir/new.h264")" \
      "$(echo "$jpeg_kib / $old_kib" | bc -l)" "$(echo "$jpeg_kib / $new_kib" | bc -l)" "$(echo "$old_cpu / 10" | bc -l)" "$(echo "$new_cpu / 10" | bc -l)"
  done
done
echo
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(uptime | sed 's/.*load/load/')"
