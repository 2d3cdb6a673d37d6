// SPDX-License-Identifier: GPL-2.0-only
/*
 * mltrigger: a test-only module whose only purpose is to prove that the
 * mirrorlab guest runner notices kernel warnings on the console.
 *
 * Writing to /dev/mltrigger or to /sys/kernel/debug/mltrigger/trigger:
 *   "warn"  executes a WARN() with a recognisable message; the kernel carries
 *           on (the guests boot with panic_on_warn=0);
 *   "bug"   executes BUG(): an Oops that kills the writing task (the guests
 *           have panic_on_oops=0, so the rest of the kernel carries on);
 *   "hang"  sleeps 5 s uninterruptibly, holding no lock: a hung task report
 *           once the test has lowered kernel.hung_task_timeout_secs;
 *   "leak"  kmallocs MLTRIGGER_LEAK_MIB MiB (1 MiB at a time) and drops every
 *           pointer: memory that nothing frees until the guest reboots, for
 *           the fuzz campaign's leak check to flag (rmmod does not return it),
 *           and kmemleak to report as unreferenced;
 *   "kasan" reads one byte past the end of a 16-byte kmalloc object: a
 *           slab-out-of-bounds report on a KASAN kernel (our debug flavour),
 *           a harmless read inside the slab page elsewhere;
 *   "lockdep" takes two of its own mutexes in one order, then in the other,
 *           one after the other in the writing task: nothing can deadlock,
 *           but lockdep (PROVE_LOCKING) reports a possible circular locking
 *           dependency the first time.
 * Nothing else is touched. Reading either file returns the number of
 * triggers so far.
 *
 * Never load this module outside that test.
 */
#include <linux/atomic.h>
#include <linux/bug.h>
#include <linux/debugfs.h>
#include <linux/delay.h>
#include <linux/fs.h>
#include <linux/kernel.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>

/* Twice the fuzz leak check's 32 MiB tolerance: a leak it must flag. */
#define MLTRIGGER_LEAK_MIB 64

static atomic_t mltrigger_count = ATOMIC_INIT(0);
/* Only ever taken by the "lockdep" trigger, in both orders. */
static DEFINE_MUTEX(mltrigger_lock_a);
static DEFINE_MUTEX(mltrigger_lock_b);

/*
 * Allocates MLTRIGGER_LEAK_MIB MiB and forgets it; returns the MiB leaked.
 * The three triggers are noinline: the reports they provoke name them
 * (kmemleak's backtrace, KASAN's "in <function>"), and the tests look for
 * those names (gcc-16 inlined mltrigger_kasan into mltrigger_write).
 */
static noinline int mltrigger_leak(void)
{
	int mib;

	for (mib = 0; mib < MLTRIGGER_LEAK_MIB; mib++) {
		void *p = kmalloc(SZ_1M, GFP_KERNEL | __GFP_NOWARN);

		if (!p)
			break;
		/* Written, so that every page is really in use. */
		memset(p, 0xa5, SZ_1M);
	}
	return mib;
}
static struct dentry *mltrigger_dir;

/* One byte past a 16-byte object; the index is not a constant to the compiler. */
static noinline int mltrigger_kasan(void)
{
	size_t past = 16;
	char *p = kmalloc(16, GFP_KERNEL);
	int v;

	if (!p)
		return -ENOMEM;
	OPTIMIZER_HIDE_VAR(past);
	v = READ_ONCE(p[past]);
	kfree(p);
	return v;
}

/* A before B, then B before A: the order inversion lockdep reports. */
static noinline void mltrigger_lockdep(void)
{
	mutex_lock(&mltrigger_lock_a);
	mutex_lock(&mltrigger_lock_b);
	mutex_unlock(&mltrigger_lock_b);
	mutex_unlock(&mltrigger_lock_a);

	mutex_lock(&mltrigger_lock_b);
	mutex_lock(&mltrigger_lock_a);
	mutex_unlock(&mltrigger_lock_a);
	mutex_unlock(&mltrigger_lock_b);
}

static ssize_t mltrigger_write(struct file *file, const char __user *ubuf,
			       size_t len, loff_t *ppos)
{
	char buf[16];
	size_t n = min(len, sizeof(buf) - 1);

	if (copy_from_user(buf, ubuf, n))
		return -EFAULT;
	buf[n] = '\0';

	if (sysfs_streq(buf, "warn")) {
		atomic_inc(&mltrigger_count);
		WARN(1, "mltrigger: warning requested by user space (count %d)\n",
		     atomic_read(&mltrigger_count));
	} else if (sysfs_streq(buf, "bug")) {
		atomic_inc(&mltrigger_count);
		pr_emerg("mltrigger: BUG requested by user space\n");
		/* The point of this module: an Oops the runner must catch. */
		BUG();
	} else if (sysfs_streq(buf, "hang")) {
		atomic_inc(&mltrigger_count);
		pr_info("mltrigger: sleeping 5 s uninterruptibly\n");
		msleep(5000);
	} else if (sysfs_streq(buf, "leak")) {
		int mib = mltrigger_leak();

		atomic_inc(&mltrigger_count);
		pr_info("mltrigger: leaked %d MiB on request\n", mib);
		if (mib < MLTRIGGER_LEAK_MIB)
			return -ENOMEM;
	} else if (sysfs_streq(buf, "kasan")) {
		int v = mltrigger_kasan();

		if (v == -ENOMEM)
			return v;
		atomic_inc(&mltrigger_count);
		pr_info("mltrigger: read past a 16-byte object on request\n");
	} else if (sysfs_streq(buf, "lockdep")) {
		atomic_inc(&mltrigger_count);
		mltrigger_lockdep();
		pr_info("mltrigger: took two mutexes in both orders on request\n");
	} else {
		return -EINVAL;
	}
	return len;
}

static ssize_t mltrigger_read(struct file *file, char __user *ubuf,
			      size_t len, loff_t *ppos)
{
	char buf[16];
	int n = scnprintf(buf, sizeof(buf), "%d\n",
			  atomic_read(&mltrigger_count));

	return simple_read_from_buffer(ubuf, len, ppos, buf, n);
}

static const struct file_operations mltrigger_fops = {
	.owner = THIS_MODULE,
	.read = mltrigger_read,
	.write = mltrigger_write,
	.llseek = default_llseek,
};

static struct miscdevice mltrigger_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "mltrigger",
	.fops = &mltrigger_fops,
	.mode = 0600,
};

static int __init mltrigger_init(void)
{
	int ret = misc_register(&mltrigger_misc);

	if (ret)
		return ret;
	/* debugfs is optional: a failure here only loses the second knob. */
	mltrigger_dir = debugfs_create_dir("mltrigger", NULL);
	debugfs_create_file("trigger", 0600, mltrigger_dir, NULL,
			    &mltrigger_fops);
	return 0;
}

static void __exit mltrigger_exit(void)
{
	debugfs_remove_recursive(mltrigger_dir);
	misc_deregister(&mltrigger_misc);
}

module_init(mltrigger_init);
module_exit(mltrigger_exit);
MODULE_DESCRIPTION("mirrorlab test-only WARN, BUG, hung-task, leak, KASAN and lockdep trigger for the crash and leak detectors");
MODULE_LICENSE("GPL");
