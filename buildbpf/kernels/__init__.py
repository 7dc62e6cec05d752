"""`check --kernel`: verify every program against real Linux kernels booted under QEMU.

catalog: which Debian package gives which kernel; fetch: download and unpack it into the
cache; initramfs: the guest's root file system; qemu: boot and read the verdicts;
matrix: the result, as text or JSON.
"""
