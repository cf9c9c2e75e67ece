// The console's entry point (see console/README.md).
document.getElementById('app').textContent = 'warden console';
