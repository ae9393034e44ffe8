"""Notifications: channel settings (``config``), the Notice a channel shows (``model``), one module
per service (``channels``) and ``send``, which delivers one notice to one channel and never raises
for a delivery problem. The queue's outbox decides what to send and when."""
