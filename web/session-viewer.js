// seeds/003's fallback viewer (`GET /api/session/:id/viewer`): reloads the session's PNG once a
// second. A file of its own, not an inline script, so the pages' Content Security Policy needs
// no exception.
// This page's own `?token=` goes on to the PNG (an <img> cannot send an Authorization header).
const img = document.getElementById('frame');
const src = img.getAttribute('src').split('?')[0];
const token = new URLSearchParams(location.search).get('token');
const auth = token ? `&token=${encodeURIComponent(token)}` : '';
setInterval(() => {
  img.src = `${src}?t=${Date.now()}${auth}`;
}, 1000);
