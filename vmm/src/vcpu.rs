//! A vCPU thread: runs the guest and hands port and MMIO exits to the
//! buses until the VM ends.

use std::sync::Arc;

use kvm_bindings::{
    KVM_INTERNAL_ERROR_EMULATION, KVM_SYSTEM_EVENT_RESET, KVM_SYSTEM_EVENT_SHUTDOWN,
};
use kvm_ioctls::{VcpuExit, VcpuFd};

use crate::devices::bus::Bus;
use crate::exit::{ExitEvent, ResetCause, VcpuError, VmExit};
use crate::pause::PauseGate;

/// The parts of the VM a vCPU thread touches.
pub struct Vcpu {
    /// vCPU number, also its APIC id.
    pub id: u8,
    /// The KVM vCPU.
    pub fd: VcpuFd,
    /// Port I/O devices.
    pub pio: Arc<Bus>,
    /// Memory-mapped devices.
    pub mmio: Arc<Bus>,
    /// Where the VM's end is signalled.
    pub exits: Arc<ExitEvent>,
    /// Holds the vCPU outside the guest while the VM is paused.
    pub pause: Arc<PauseGate>,
}

/// What one exit from `KVM_RUN` means for the loop.
enum Step {
    Continue,
    Stop(VmExit),
}

impl Vcpu {
    /// Runs the guest until something ends the VM, then reports it.
    pub fn run(mut self) {
        if self.id == 0 {
            crate::timing::mark("first vCPU entry");
        }
        loop {
            self.pause.park_if_paused();
            match self.step() {
                Step::Continue => {}
                Step::Stop(exit) => {
                    self.exits.signal(exit);
                    return;
                }
            }
        }
    }

    fn internal_suberror(&mut self) -> u32 {
        let run = self.fd.get_kvm_run();
        // SAFETY: after a KVM_EXIT_INTERNAL_ERROR exit, `internal` is the
        // active member of the exit union.
        unsafe { run.__bindgen_anon_1.internal.suberror }
    }

    fn step(&mut self) -> Step {
        let id = self.id;
        let failed = move |error| Step::Stop(VmExit::VcpuFailed { vcpu: id, error });
        let exit = match self.fd.run() {
            Ok(exit) => exit,
            Err(e) if e.errno() == libc::EINTR || e.errno() == libc::EAGAIN => {
                return Step::Continue;
            }
            Err(e) => return failed(VcpuError::Run(e.errno())),
        };
        match exit {
            VcpuExit::IoIn(port, data) => {
                // No device: reads float to zero, as in other microVMs.
                if !self.pio.read(u64::from(port), data) {
                    data.fill(0);
                }
                Step::Continue
            }
            VcpuExit::IoOut(port, data) => {
                self.pio.write(u64::from(port), data);
                Step::Continue
            }
            VcpuExit::MmioRead(addr, data) => {
                if !self.mmio.read(addr, data) {
                    data.fill(0);
                }
                Step::Continue
            }
            VcpuExit::MmioWrite(addr, data) => {
                self.mmio.write(addr, data);
                Step::Continue
            }
            // A triple fault: what `reboot=t` and a crashed kernel do.
            VcpuExit::Shutdown => Step::Stop(VmExit::Reset(ResetCause::TripleFault)),
            VcpuExit::Hlt => Step::Stop(VmExit::Reset(ResetCause::Halted)),
            VcpuExit::SystemEvent(kind, _)
                if kind == KVM_SYSTEM_EVENT_SHUTDOWN || kind == KVM_SYSTEM_EVENT_RESET =>
            {
                Step::Stop(VmExit::Reset(ResetCause::Requested))
            }
            VcpuExit::FailEntry(reason, _) => failed(VcpuError::FailEntry(reason)),
            VcpuExit::InternalError => {
                let error = match self.internal_suberror() {
                    KVM_INTERNAL_ERROR_EMULATION => VcpuError::EmulationFailure,
                    other => VcpuError::Internal(other),
                };
                failed(error)
            }
            other => failed(VcpuError::UnexpectedExit(exit_name(&other))),
        }
    }
}

fn exit_name(exit: &VcpuExit) -> &'static str {
    match exit {
        VcpuExit::Exception => "exception",
        VcpuExit::Hypercall(_) => "hypercall",
        VcpuExit::Debug(_) => "debug",
        VcpuExit::IrqWindowOpen => "irq window open",
        VcpuExit::Intr => "intr",
        VcpuExit::Nmi => "nmi",
        VcpuExit::MemoryFault { .. } => "memory fault",
        VcpuExit::Unsupported(_) => "unsupported",
        _ => "other",
    }
}
