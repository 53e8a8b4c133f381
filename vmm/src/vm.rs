//! A microVM: KVM VM, guest RAM, vCPUs, legacy devices, booted from a
//! kernel image.

use std::io::Write;
use std::path::PathBuf;
use std::sync::mpsc::channel;
use std::sync::{Arc, Mutex};

use event_manager::{EventManager, MutEventSubscriber, SubscriberOps};
use kvm_bindings::{
    kvm_pit_config, kvm_userspace_memory_region, KVM_MAX_CPUID_ENTRIES, KVM_PIT_SPEAKER_DUMMY,
};
use kvm_ioctls::{IoEventAddress, Kvm, VmFd};
use virtio::fs::{CacheMode, Fs, FsError, FsOptions};
use virtio::net::{Net, NetError, Tap};
use virtio::rng::{Rng, RngError};
use virtio::vsock::{Vsock, VsockError};
use virtio::{MmioTransport, VirtioDevice, VirtioError};
use vm_memory::{GuestMemory as _, GuestMemoryRegion};
use vmm_sys_util::eventfd::EventFd;

use crate::arch::boot::{load_boot_images, BootError, BootImages};
use crate::arch::cpuid::filter_cpuid;
use crate::arch::mptable::MAX_VCPUS;
use crate::arch::regs::{self, RegsError};
use crate::devices::bus::{Bus, BusError};
use crate::devices::exit_port::ExitPort;
use crate::devices::i8042;
use crate::devices::serial::{SerialConsole, COM1_BASE, COM1_IRQ, COM1_LEN};
use crate::devices::timing_port::TimingPort;
use crate::devices::virtio_mmio;
use crate::exit::{ExitEvent, VmExit};
use crate::memory::{create_guest_memory, GuestMemory, MemoryError};
use crate::pause::PauseGate;
use crate::seccomp::{self, SeccompError, ThreadCaps};
use crate::timing;
use crate::vcpu::Vcpu;

/// Where KVM keeps the TSS for real-mode emulation on Intel: three pages
/// just below the BIOS area, inside the MMIO gap.
const KVM_TSS_ADDRESS: usize = 0xfffb_d000;

/// The shape of the VM.
pub struct VmConfig<'a> {
    /// vCPUs, 1 to [`MAX_VCPUS`].
    pub vcpus: u8,
    /// Guest RAM in MiB.
    pub memory_mib: u64,
    /// Kernel, initrd and command line; the VMM appends its devices to
    /// the command line.
    pub images: BootImages<'a>,
    /// With a path, the VM gets a vsock device whose host side is this
    /// Unix socket (hybrid vsock: `CONNECT <port>`).
    pub vsock_uds: Option<PathBuf>,
    /// With a share, the VM gets a virtio-fs device serving it.
    pub fs_share: Option<FsShare>,
    /// One virtio-net device each, in this order (the guest's eth0, eth1,
    /// ...); at most [`virtio_mmio::MAX_NET_DEVICES`].
    pub net: Vec<NetDevice>,
}

/// A network card of the guest, whose other end is a tap on the host.
#[derive(Debug)]
pub struct NetDevice {
    /// The host side. The VM works on its own fd of it (a dup), so the
    /// interface lasts while either is open.
    pub tap: Tap,
    /// The guest's MAC address.
    pub mac: [u8; 6],
    /// The guest's MTU (at least [`virtio::net::MIN_MTU`]).
    pub mtu: u16,
}

/// A host directory served to the guest over virtio-fs.
#[derive(Clone, Debug)]
pub struct FsShare {
    /// The tag the guest mounts it by.
    pub tag: String,
    /// The directory.
    pub dir: PathBuf,
    /// How much the guest caches of it.
    pub cache: CacheMode,
}

/// The event loop's view of a device.
type Subscriber = Arc<Mutex<dyn MutEventSubscriber + Send>>;

/// Why a VM could not be built or run.
#[derive(Debug, thiserror::Error)]
pub enum VmError {
    #[error("a VM needs 1 to {MAX_VCPUS} vCPUs, got {0}")]
    VcpuCount(u8),
    #[error("opening /dev/kvm")]
    OpenKvm(#[source] kvm_ioctls::Error),
    #[error("creating the KVM VM")]
    CreateVm(#[source] kvm_ioctls::Error),
    #[error("setting up the in-kernel interrupt controllers and timer")]
    Irqchip(#[source] kvm_ioctls::Error),
    #[error("setting up guest memory")]
    Memory(#[source] MemoryError),
    #[error("registering guest memory with KVM")]
    RegisterMemory(#[source] kvm_ioctls::Error),
    #[error("loading the guest")]
    Boot(#[source] BootError),
    #[error("reading the CPUID KVM supports")]
    SupportedCpuid(#[source] kvm_ioctls::Error),
    #[error("creating vCPU {0}")]
    CreateVcpu(u8, #[source] kvm_ioctls::Error),
    #[error("setting CPUID of vCPU {0}")]
    SetCpuid(u8, #[source] kvm_ioctls::Error),
    #[error("setting the boot state of vCPU {0}")]
    VcpuState(u8, #[source] RegsError),
    #[error("creating the exit event")]
    ExitEvent(#[source] std::io::Error),
    #[error("waiting for the VM to end")]
    WaitExit(#[source] std::io::Error),
    #[error("creating the serial interrupt")]
    SerialIrq(#[source] std::io::Error),
    #[error("binding the serial interrupt")]
    RegisterIrqfd(#[source] kvm_ioctls::Error),
    #[error("placing a device")]
    Bus(#[source] BusError),
    #[error("starting vCPU thread {0}")]
    SpawnVcpu(u8, #[source] std::io::Error),
    #[error("creating the device event loop")]
    EventManager(#[source] event_manager::Error),
    #[error("starting the device event loop")]
    SpawnEventLoop(#[source] std::io::Error),
    #[error("creating the vsock device")]
    Vsock(#[source] VsockError),
    #[error("creating the virtio-fs device")]
    Fs(#[source] FsError),
    #[error("creating the virtio-rng device")]
    Rng(#[source] RngError),
    #[error("a VM has at most {max} network devices, got {0}", max = virtio_mmio::MAX_NET_DEVICES)]
    NetCount(usize),
    #[error("duplicating the fd of tap {0}")]
    TapFd(String, #[source] std::io::Error),
    #[error("creating the virtio-net device on tap {0}")]
    Net(String, #[source] NetError),
    #[error("attaching a virtio device")]
    Virtio(#[source] VirtioError),
    #[error("binding a virtio device's interrupt or queue notifications")]
    VirtioEventFd(#[source] kvm_ioctls::Error),
    #[error("installing the vCPU kick signal handler")]
    KickSignal(#[source] vmm_sys_util::errno::Error),
    #[error("confining the VMM threads")]
    Seccomp(#[source] SeccompError),
}

/// The signal that kicks a vCPU thread out of `KVM_RUN` (see [`PauseGate`]).
fn kick_signal() -> libc::c_int {
    libc::SIGRTMIN()
}

extern "C" fn ignore_kick(_: libc::c_int, _: *mut libc::siginfo_t, _: *mut libc::c_void) {}

/// A VM ready to run.
pub struct Vm {
    // The VM fd must outlive the vCPUs and the memory registration.
    _vm: VmFd,
    _memory: GuestMemory,
    vcpus: Vec<Vcpu>,
    event_manager: EventManager<Subscriber>,
    exits: Arc<ExitEvent>,
    pause: Arc<PauseGate>,
}

fn register_memory(vm: &VmFd, mem: &GuestMemory) -> Result<(), VmError> {
    for (slot, region) in (0u32..).zip(mem.iter()) {
        let region_desc = kvm_userspace_memory_region {
            slot,
            flags: 0,
            guest_phys_addr: region.start_addr().0,
            memory_size: region.len(),
            userspace_addr: region.as_ptr() as u64,
        };
        // SAFETY: the region is a live mapping of `len` bytes owned by
        // `mem`, which the `Vm` keeps alive as long as the VM fd.
        unsafe { vm.set_user_memory_region(region_desc) }.map_err(VmError::RegisterMemory)?;
    }
    Ok(())
}

fn legacy_devices(
    vm: &VmFd,
    console: impl Write + Send + 'static,
    exits: &Arc<ExitEvent>,
) -> Result<Bus, VmError> {
    let mut pio = Bus::default();
    let serial_irq =
        EventFd::new(libc::EFD_NONBLOCK | libc::EFD_CLOEXEC).map_err(VmError::SerialIrq)?;
    vm.register_irqfd(&serial_irq, COM1_IRQ)
        .map_err(VmError::RegisterIrqfd)?;
    let serial = SerialConsole::new(serial_irq, console);
    pio.insert(COM1_BASE, COM1_LEN, Arc::new(Mutex::new(serial)))
        .map_err(VmError::Bus)?;
    let i8042 = i8042::i8042(exits.clone());
    pio.insert(i8042::DATA_PORT, i8042::PORTS, Arc::new(Mutex::new(i8042)))
        .map_err(VmError::Bus)?;
    let exit_port = ExitPort::new(exits.clone());
    pio.insert(
        u64::from(proto::EXIT_PORT),
        1,
        Arc::new(Mutex::new(exit_port)),
    )
    .map_err(VmError::Bus)?;
    let timing_port = Arc::new(Mutex::new(TimingPort));
    pio.insert(u64::from(proto::timing::TIMING_PORT), 1, timing_port)
        .map_err(VmError::Bus)?;
    Ok(pio)
}

/// Puts `device` behind the virtio-mmio window `index`: bus range, irqfd,
/// one ioeventfd per queue, and its announcement on `cmdline`.
fn attach_virtio(
    vm: &VmFd,
    mem: &GuestMemory,
    mmio: &mut Bus,
    cmdline: &mut String,
    index: u32,
    device: Arc<Mutex<dyn VirtioDevice>>,
) -> Result<(), VmError> {
    let transport = MmioTransport::new(mem.clone(), device).map_err(VmError::Virtio)?;
    let (base, irq) = virtio_mmio::slot(index);
    vm.register_irqfd(transport.interrupt().irq_evt(), irq)
        .map_err(VmError::VirtioEventFd)?;
    let notify = IoEventAddress::Mmio(base + virtio::mmio::QUEUE_NOTIFY_OFFSET);
    for (queue, evt) in (0u32..).zip(transport.queue_evts()) {
        vm.register_ioevent(evt, &notify, queue)
            .map_err(VmError::VirtioEventFd)?;
    }
    mmio.insert(
        base,
        virtio_mmio::WINDOW_SIZE,
        Arc::new(Mutex::new(transport)),
    )
    .map_err(VmError::Bus)?;
    cmdline.push(' ');
    cmdline.push_str(&virtio_mmio::cmdline_announcement(base, irq));
    Ok(())
}

impl Vm {
    /// Creates the VM, loads the guest and sets every vCPU's boot state.
    /// The guest's serial console is written to `console`.
    pub fn new(config: &VmConfig, console: impl Write + Send + 'static) -> Result<Self, VmError> {
        if config.vcpus == 0 || config.vcpus > MAX_VCPUS {
            return Err(VmError::VcpuCount(config.vcpus));
        }
        let net_fits = u32::try_from(config.net.len())
            .is_ok_and(|count| count <= virtio_mmio::MAX_NET_DEVICES);
        if !net_fits {
            return Err(VmError::NetCount(config.net.len()));
        }
        let kvm = Kvm::new().map_err(VmError::OpenKvm)?;
        let vm = kvm.create_vm().map_err(VmError::CreateVm)?;
        vm.set_tss_address(KVM_TSS_ADDRESS)
            .map_err(VmError::Irqchip)?;
        vm.create_irq_chip().map_err(VmError::Irqchip)?;
        let pit = kvm_pit_config {
            flags: KVM_PIT_SPEAKER_DUMMY,
            ..Default::default()
        };
        vm.create_pit2(pit).map_err(VmError::Irqchip)?;

        let memory = create_guest_memory(config.memory_mib).map_err(VmError::Memory)?;
        timing::mark("guest memory made");
        register_memory(&vm, &memory)?;

        let mut event_manager = EventManager::<Subscriber>::new().map_err(VmError::EventManager)?;
        let mut mmio = Bus::default();
        let mut cmdline = config.images.cmdline.to_string();
        if let Some(uds) = &config.vsock_uds {
            let vsock = Arc::new(Mutex::new(
                Vsock::new(proto::agent::GUEST_CID, uds.clone()).map_err(VmError::Vsock)?,
            ));
            let slot = virtio_mmio::VSOCK_SLOT;
            attach_virtio(&vm, &memory, &mut mmio, &mut cmdline, slot, vsock.clone())?;
            event_manager.add_subscriber(vsock);
        }
        if let Some(share) = &config.fs_share {
            let options = FsOptions {
                cache: share.cache,
                ..FsOptions::default()
            };
            let fs = Fs::new(&share.tag, share.dir.clone(), options).map_err(VmError::Fs)?;
            let fs = Arc::new(Mutex::new(fs));
            let slot = virtio_mmio::FS_SLOT;
            attach_virtio(&vm, &memory, &mut mmio, &mut cmdline, slot, fs.clone())?;
            event_manager.add_subscriber(fs);
        }
        // Every guest gets host entropy (/dev/hwrng, and its pool).
        let rng = Arc::new(Mutex::new(Rng::new().map_err(VmError::Rng)?));
        let slot = virtio_mmio::RNG_SLOT;
        attach_virtio(&vm, &memory, &mut mmio, &mut cmdline, slot, rng.clone())?;
        event_manager.add_subscriber(rng);
        for (slot, device) in (virtio_mmio::FIRST_NET_SLOT..).zip(&config.net) {
            let name = device.tap.name();
            let tap = device
                .tap
                .try_clone()
                .map_err(|e| VmError::TapFd(name.to_owned(), e))?;
            let net = Net::new(tap, device.mac, device.mtu)
                .map_err(|e| VmError::Net(name.to_owned(), e))?;
            let net = Arc::new(Mutex::new(net));
            attach_virtio(&vm, &memory, &mut mmio, &mut cmdline, slot, net.clone())?;
            event_manager.add_subscriber(net);
        }
        let mmio = Arc::new(mmio);

        timing::mark("devices made");
        let images = BootImages {
            kernel: config.images.kernel,
            initrd: config.images.initrd,
            cmdline: &cmdline,
            pvh: config.images.pvh,
        };
        let entry = load_boot_images(&memory, &images, config.vcpus).map_err(VmError::Boot)?;
        regs::write_boot_tables(&memory, entry).map_err(|e| VmError::VcpuState(0, e))?;
        timing::mark("images loaded");

        let exits = Arc::new(ExitEvent::new().map_err(VmError::ExitEvent)?);
        let pio = Arc::new(legacy_devices(&vm, console, &exits)?);
        let supported = kvm
            .get_supported_cpuid(KVM_MAX_CPUID_ENTRIES)
            .map_err(VmError::SupportedCpuid)?;
        let tsc_deadline = kvm.check_extension(kvm_ioctls::Cap::TscDeadlineTimer);

        let pause = Arc::new(PauseGate::default());
        let mut vcpus = Vec::with_capacity(usize::from(config.vcpus));
        for id in 0..config.vcpus {
            let fd = vm
                .create_vcpu(u64::from(id))
                .map_err(|e| VmError::CreateVcpu(id, e))?;
            let mut cpuid = supported.clone();
            filter_cpuid(cpuid.as_mut_slice(), id, config.vcpus, tsc_deadline);
            fd.set_cpuid2(&cpuid)
                .map_err(|e| VmError::SetCpuid(id, e))?;
            let state = |e| VmError::VcpuState(id, e);
            regs::setup_msrs(&fd).map_err(state)?;
            regs::setup_fpu(&fd).map_err(state)?;
            regs::setup_lapic(&fd).map_err(state)?;
            // Application processors wait for the boot processor's
            // INIT/SIPI; only the boot processor starts at the entry.
            if id == 0 {
                regs::setup_sregs(&fd, entry).map_err(state)?;
                regs::setup_regs(&fd, entry).map_err(state)?;
            }
            vcpus.push(Vcpu {
                id,
                fd,
                pio: pio.clone(),
                mmio: mmio.clone(),
                exits: exits.clone(),
                pause: pause.clone(),
            });
        }
        Ok(Self {
            _vm: vm,
            _memory: memory,
            vcpus,
            event_manager,
            exits,
            pause,
        })
    }

    /// Pauses and resumes the guest's vCPUs, also while [`Vm::run`] runs.
    pub fn pause_gate(&self) -> Arc<PauseGate> {
        self.pause.clone()
    }

    /// Runs the guest until it powers off, resets or fails. vCPU threads
    /// still inside the guest then are ended with the process. The vCPU
    /// threads and the device event loop run under their seccomp filters
    /// ([`seccomp`]); the calling thread is not filtered.
    pub fn run(self) -> Result<VmExit, VmError> {
        // Built here, before any thread starts; each thread installs its
        // own before it touches guest data.
        let vcpu_filter = Arc::new(seccomp::vcpu_filter().map_err(VmError::Seccomp)?);
        let events_filter = seccomp::event_loop_filter().map_err(VmError::Seccomp)?;
        let waiter_filter = seccomp::supervisor_filter().map_err(VmError::Seccomp)?;
        let mut event_manager = self.event_manager;
        let (ready_tx, ready_rx) = channel();
        std::thread::Builder::new()
            .name("vmm-events".into())
            .spawn(move || {
                let installed = seccomp::confine(&events_filter, ThreadCaps::FileServer);
                let confined = installed.is_ok();
                let _ = ready_tx.send(installed);
                if confined {
                    while event_manager.run().is_ok() {}
                }
            })
            .map_err(VmError::SpawnEventLoop)?;
        // The thread either reports or has died, which drops the sender.
        ready_rx
            .recv()
            .unwrap_or(Err(SeccompError::Died("vmm-events".into())))
            .map_err(VmError::Seccomp)?;
        vmm_sys_util::signal::register_signal_handler(kick_signal(), ignore_kick)
            .map_err(VmError::KickSignal)?;
        let (tid_tx, tid_rx) = channel();
        for vcpu in self.vcpus {
            let id = vcpu.id;
            let tid_tx = tid_tx.clone();
            let filter = vcpu_filter.clone();
            std::thread::Builder::new()
                .name(format!("vcpu{id}"))
                .spawn(move || {
                    let tid = nix::unistd::gettid().as_raw();
                    let installed = seccomp::confine(&filter, ThreadCaps::None).map(|()| tid);
                    let confined = installed.is_ok();
                    drop(filter);
                    let _ = tid_tx.send(installed);
                    if confined {
                        vcpu.run();
                    }
                })
                .map_err(|e| VmError::SpawnVcpu(id, e))?;
            // The thread's id, not its pthread_t: a kick after the thread
            // ended must not touch freed thread state.
            let tid = tid_rx
                .recv()
                .unwrap_or(Err(SeccompError::Died(format!("vcpu{id}"))))
                .map_err(VmError::Seccomp)?;
            let pid = std::process::id();
            self.pause.add_vcpu(Box::new(move || {
                // SAFETY: tgkill only sends a signal; a stale tid makes
                // it fail with ESRCH, which a kick may ignore.
                unsafe { libc::syscall(libc::SYS_tgkill, pid, tid, kick_signal()) };
            }));
        }
        // This thread only waits from here on, and its caller reports.
        seccomp::confine(&waiter_filter, ThreadCaps::None).map_err(VmError::Seccomp)?;
        self.exits.wait().map_err(VmError::WaitExit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_net_devices_than_slots_are_refused_up_front() {
        // Taps made in a network namespace of their own thread's.
        let count = usize::try_from(virtio_mmio::MAX_NET_DEVICES).unwrap() + 1;
        let taps = std::thread::spawn(move || {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            (0..count)
                .map(|_| Tap::open("rvvm%d").unwrap())
                .collect::<Vec<_>>()
        })
        .join()
        .unwrap();
        let config = VmConfig {
            vcpus: 1,
            memory_mib: 64,
            images: BootImages {
                kernel: &[],
                initrd: None,
                cmdline: "",
                pvh: false,
            },
            vsock_uds: None,
            fs_share: None,
            net: taps
                .into_iter()
                .map(|tap| NetDevice {
                    tap,
                    mac: [2, 0, 0, 0, 0, 1],
                    mtu: 1500,
                })
                .collect(),
        };
        let err = Vm::new(&config, std::io::sink()).err().unwrap();
        assert!(matches!(err, VmError::NetCount(9)), "{err}");
        assert_eq!(err.to_string(), "a VM has at most 8 network devices, got 9");
    }
}
