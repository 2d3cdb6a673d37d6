/* Plain C reference fault loop: see fault_timing. Filled in with the timing work. */
int main(void)
{
	return 0;
}
