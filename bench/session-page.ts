/**
 * The page a `--source session` browser session shows: a 1280x720 canvas redrawn every
 * animation frame with scrolling bars, a moving box and some grain, so Chromium paints (and
 * its screencast sends) a new, differently sized JPEG for every frame, as a live page does.
 */
export const SESSION_PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>bench</title>
<style>html,body{margin:0;overflow:hidden;background:#000}</style></head><body>
<canvas id="c" width="1280" height="720"></canvas><script>
const c = document.getElementById('c').getContext('2d');
const bars = ['#bfbfbf','#bfbf00','#00bfbf','#00bf00','#bf00bf','#bf0000','#0000bf','#101010'];
let n = 0;
function draw() {
  n++;
  for (let i = 0; i < bars.length; i++) { c.fillStyle = bars[i]; c.fillRect(((i * 160 + n * 4) % 1280), 0, 161, 500); c.fillRect(((i * 160 + n * 4) % 1280) - 1280, 0, 161, 500); }
  c.fillStyle = '#181828'; c.fillRect(0, 500, 1280, 220);
  const x = (n * 8) % 2400; c.fillStyle = '#ff8c00'; c.fillRect(x < 1200 ? x : 2400 - x, 640, 80, 40);
  c.fillStyle = '#fff'; c.font = '48px monospace'; c.fillText('FRAME ' + n + '  ' + new Date().toISOString().slice(11, 23), 40, 580);
  for (let i = 0; i < 400; i++) { c.fillStyle = 'rgba(' + (i * 37 % 255) + ',' + (n * 13 % 255) + ',' + (i * n % 255) + ',0.5)'; c.fillRect(Math.random() * 1280, Math.random() * 500, 6, 6); }
  requestAnimationFrame(draw);
}
requestAnimationFrame(draw);
</script></body></html>`;
