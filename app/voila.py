"""Voilà's settings for ``make demo`` that JSON cannot hold (the plain ones are in voila.json): a cap on
live kernels. Each page load starts a kernel of its own (the networks and the gallery: see the
README's "The demo as a web page" for its measured memory), so a class opening the page at once would
otherwise start kernels until the machine runs out of memory. Over the cap, a page load is answered
"503: the demo is full" and starts nothing; closing a page shuts its kernel down, and voila.json's
culler shuts down kernels idle for 15 minutes."""
from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
from tornado.web import HTTPError
from traitlets import Integer


class CappedKernelManager(AsyncMappingKernelManager):
    """Voilà's kernel manager with at most ``max_kernels`` kernels alive at once."""

    max_kernels = Integer(20, config=True, help="kernels alive at once; a page load over it gets a 503")

    async def start_kernel(self, *args, **kwargs):
        if len(self.list_kernel_ids()) >= self.max_kernels:
            raise HTTPError(503, f"The demo is full ({self.max_kernels} pages open); try again in a few minutes.")
        return await super().start_kernel(*args, **kwargs)


c = get_config()  # noqa: F821 (traitlets defines it while it reads this file)
c.VoilaConfiguration.multi_kernel_manager_class = CappedKernelManager
