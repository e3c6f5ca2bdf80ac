"""One video over several processes with diffusers' context parallelism (torch.distributed underneath).

group.py joins the process group torchrun describes (gloo on CPU, NCCL on CUDA) and says which rank writes;
context.py checks a model against a request (mode, degree) and turns diffusers' ContextParallelConfig on for
its denoisers; precheck.py refuses a workflow that cannot run parallel before any weight loads.
"""
