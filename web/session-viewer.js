// seeds/003's fallback viewer (`GET /api/session/:id/viewer`): reloads the session's PNG once a
// second. A file of its own, not an inline script, so the pages' Content Security Policy needs
// no exception.
const img = document.getElementById('frame');
const src = img.getAttribute('src');
setInterval(() => {
  img.src = `${src}?t=${Date.now()}`;
}, 1000);
